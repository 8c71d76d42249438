using System.Text.Json;
using LlmRouter.Common.Protection;
using LlmRouter.V1;

namespace LlmRouter.Tests.Protection;

/// <summary>
/// A whole request masked: images pass as they are; tool calls' arguments and tool results that are JSON stay JSON,
/// masked value by value (the values found decoded, so an escape cannot hide one); and text written like a
/// placeholder anywhere in the request is never given to a value.
/// </summary>
public sealed class MaskingSessionTests
{
    [Fact]
    public void Mask_ImageParts_PassAsTheyAre()
    {
        var request = new ChatRequest
        {
            Messages =
            {
                new ChatMessage
                {
                    Role = Role.User,
                    Parts =
                    {
                        new ContentPart { Image = new ImageInput { Url = "https://example.com/a.png" } },
                        new ContentPart { Text = "and ann@example.com" },
                    },
                },
            },
        };

        var masked = new MaskingSession(Recognizers.BuiltIn).Mask(request);

        Assert.Equal(ContentPart.PartOneofCase.Image, masked.Messages[0].Parts[0].PartCase);
        Assert.Equal("https://example.com/a.png", masked.Messages[0].Parts[0].Image.Url);
        Assert.Equal("and [EMAIL_1]", masked.Messages[0].Parts[1].Text);
    }

    [Fact]
    public void Mask_JsonArgumentsAndToolResults_StayJsonAndHideEscapedAndNumericValues()
    {
        var request = new ChatRequest
        {
            Messages =
            {
                new ChatMessage
                {
                    Role = Role.Assistant,
                    ToolCalls = { new ToolCall { Id = "c1", Name = "lookup", ArgumentsJson = """{"note":"card on file:\n4111111111111111","created_at":1700000008,"card":4111111111111111}""" } },
                },
                new ChatMessage { Role = Role.Tool, ToolCallId = "c1", Content = """{"owner":"a\nbob@example.com","path":"ab\\cd","key":"sk-proj-abcdefghijklmnopqrstuvwxyz012345"}""" },
                new ChatMessage { Role = Role.User, Content = "and bob@example.com again" },
            },
        };
        var session = new MaskingSession(Recognizers.BuiltIn);

        var masked = session.Mask(request);

        var arguments = JsonDocument.Parse(masked.Messages[0].ToolCalls[0].ArgumentsJson).RootElement;
        Assert.Equal("card on file:\n[CARD_1]", arguments.GetProperty("note").GetString());
        Assert.Equal(1700000008, arguments.GetProperty("created_at").GetInt64());
        Assert.Equal("[CARD_1]", arguments.GetProperty("card").GetString());
        var result = JsonDocument.Parse(masked.Messages[1].Content).RootElement;
        Assert.Equal("a\n[EMAIL_1]", result.GetProperty("owner").GetString());
        Assert.Equal("ab\\cd", result.GetProperty("path").GetString());
        Assert.Equal("[SECRET_1]", result.GetProperty("key").GetString());
        Assert.Equal("and [EMAIL_1] again", masked.Messages[2].Content);
        Assert.True(session.TryOriginal("[EMAIL_1]", out var original));
        Assert.Equal("bob@example.com", original);
    }

    [Fact]
    public void Mask_UnchangedJson_IsLeftAsWritten()
    {
        const string arguments = "{ \"city\" : \"Kraków\" }";
        var request = new ChatRequest { Messages = { new ChatMessage { Role = Role.Assistant, ToolCalls = { new ToolCall { Id = "c", Name = "w", ArgumentsJson = arguments } } } } };
        Assert.Same(arguments, new MaskingSession(Recognizers.BuiltIn).Mask(request).Messages[0].ToolCalls[0].ArgumentsJson);
    }

    [Fact]
    public void Mask_PlaceholderShapedTextInAnyField_IsNeverGivenToAValue()
    {
        var request = new ChatRequest
        {
            Messages = { new ChatMessage { Role = Role.User, Content = "ann@example.com" } },
            Sampling = new SamplingParameters { Stop = { "[EMAIL_1]" } },
        };
        var session = new MaskingSession(Recognizers.BuiltIn);

        var masked = session.Mask(request);

        Assert.Equal("[EMAIL_2]", masked.Messages[0].Content);
        Assert.False(session.TryOriginal("[EMAIL_1]", out _));
    }
}
