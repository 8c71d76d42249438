using System.ClientModel;
using System.Text.Json;
using Anthropic;
using Json.Schema;
using Microsoft.Extensions.AI;
using OpenAI;
using OpenAI.Chat;

namespace LlmRouter.Tests.Ingress;

/// <summary>
/// The official .NET OpenAI and Anthropic SDKs as clients of a node's HTTP ingress, as a .NET service
/// written against either provider would call it: a streamed tool call through a forward and an integrator
/// (a1 > i1 > b1), the tool's result answered in text, and a structured answer.
/// </summary>
public sealed class DotNetSdkClientTests(SdkMesh mesh) : IClassFixture<SdkMesh>
{
    private const string WeatherSchema = """{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer","minimum":1,"maximum":7}},"required":["city","days"]}""";

    private ChatClient OpenAIChat() => new("m-b", new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = new Uri(mesh.EntryIngress, "/v1") });

    // Microsoft.Extensions.AI's Anthropic client moves numeric bounds into the description (Anthropic's tool
    // schemas do not take them), so what reaches the node for it has none.
    private const string UnboundedSchema = """{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"}},"required":["city","days"]}""";

    private static bool FollowsWeatherSchema(string json, string schema = WeatherSchema) => JsonSchema.FromText(schema).Evaluate(JsonDocument.Parse(json).RootElement).IsValid;

    [Fact]
    public async Task OpenAIDotNetSdk_StreamedToolCallThenTheResultAnswered()
    {
        var client = OpenAIChat();
        var tool = ChatTool.CreateFunctionTool("get_weather", "the weather", BinaryData.FromString(WeatherSchema));
        var options = new ChatCompletionOptions { Tools = { tool } };
        List<OpenAI.Chat.ChatMessage> messages = [new UserChatMessage("weather in Paris? use get_weather")];
        string? id = null, name = null;
        var arguments = new System.Text.StringBuilder();
        var pieces = 0;
        OpenAI.Chat.ChatFinishReason? finish = null;

        await foreach (var update in client.CompleteChatStreamingAsync(messages, options))
        {
            foreach (var call in update.ToolCallUpdates)
            {
                id ??= call.ToolCallId;
                name ??= call.FunctionName;
                arguments.Append(call.FunctionArgumentsUpdate?.ToString());
                pieces++;
            }

            finish ??= update.FinishReason;
        }

        Assert.Equal("get_weather", name);
        Assert.True(FollowsWeatherSchema(arguments.ToString()), arguments.ToString());
        Assert.True(pieces > 3, $"{pieces} pieces");
        Assert.Equal(OpenAI.Chat.ChatFinishReason.ToolCalls, finish);

        messages.Add(new AssistantChatMessage([ChatToolCall.CreateFunctionToolCall(id!, name!, BinaryData.FromString(arguments.ToString()))]));
        messages.Add(new ToolChatMessage(id!, "18 C and sunny"));
        var answer = await client.CompleteChatAsync(messages, options);

        Assert.Equal(OpenAI.Chat.ChatFinishReason.Stop, answer.Value.FinishReason);
        Assert.NotEmpty(answer.Value.Content[0].Text);
    }

    [Fact]
    public async Task OpenAIDotNetSdk_JsonSchemaAnswerFollowsIt()
    {
        var options = new ChatCompletionOptions
        {
            ResponseFormat = OpenAI.Chat.ChatResponseFormat.CreateJsonSchemaFormat("forecast", BinaryData.FromString(WeatherSchema), jsonSchemaIsStrict: true),
        };

        var answer = await OpenAIChat().CompleteChatAsync([new UserChatMessage("a forecast")], options);

        Assert.True(FollowsWeatherSchema(answer.Value.Content[0].Text), answer.Value.Content[0].Text);
    }

    [Fact]
    public async Task AnthropicDotNetSdk_StreamedToolUseThenTheResultAnswered()
    {
        using var client = new AnthropicClient { BaseUrl = mesh.EntryIngress.ToString().TrimEnd('/'), ApiKey = "unused", MaxRetries = 0 };
        var chat = client.AsIChatClient("m-b", defaultMaxOutputTokens: 256);
        var options = new ChatOptions { Tools = [AIFunctionFactory.CreateDeclaration("get_weather", "the weather", JsonDocument.Parse(WeatherSchema).RootElement)] };
        List<Microsoft.Extensions.AI.ChatMessage> messages = [new(ChatRole.User, "weather in Paris? use get_weather")];

        var first = await chat.GetStreamingResponseAsync(messages, options).ToChatResponseAsync();

        var call = Assert.Single(first.Messages.SelectMany(m => m.Contents).OfType<FunctionCallContent>());
        Assert.Equal("get_weather", call.Name);
        Assert.True(FollowsWeatherSchema(JsonSerializer.Serialize(call.Arguments), UnboundedSchema), JsonSerializer.Serialize(call.Arguments));
        Assert.Equal(Microsoft.Extensions.AI.ChatFinishReason.ToolCalls, first.FinishReason);

        messages.AddRange(first.Messages);
        messages.Add(new(ChatRole.Tool, [new FunctionResultContent(call.CallId, "18 C and sunny")]));
        var answer = await chat.GetResponseAsync(messages, options);

        Assert.NotEmpty(answer.Text);
        Assert.Equal(Microsoft.Extensions.AI.ChatFinishReason.Stop, answer.FinishReason);
    }
}
