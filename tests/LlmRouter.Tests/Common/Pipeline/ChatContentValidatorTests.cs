using Google.Protobuf;
using Grpc.Core;
using LlmRouter.Common.Configuration;
using LlmRouter.Common.Pipeline;
using LlmRouter.V1;

namespace LlmRouter.Tests.Common.Pipeline;

/// <summary>
/// What a chat carries beyond text is checked before any work: each bad tool, tool call, tool result,
/// image or schema is INVALID_ARGUMENT with the path of the field and what is wrong with it.
/// </summary>
public sealed class ChatContentValidatorTests
{
    private const string WeatherSchema = """{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}""";

    private static readonly byte[] Png = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13];
    private static readonly byte[] Jpeg = [0xFF, 0xD8, 0xFF, 0xE0, 0, 16];

    private static ChatRequest WithTools()
    {
        var request = new ChatRequest { Model = "m" };
        request.Messages.Add(new ChatMessage { Role = Role.User, Content = "weather in Paris?" });
        request.Tools.Add(new ToolDefinition { Name = "get_weather", Description = "weather now", ParametersJson = WeatherSchema });
        return request;
    }

    private static ChatRequest ToolConversation()
    {
        var request = WithTools();
        var call = new ChatMessage { Role = Role.Assistant };
        call.ToolCalls.Add(new ToolCall { Id = "call_1", Name = "get_weather", ArgumentsJson = """{"city":"Paris"}""" });
        request.Messages.Add(call);
        request.Messages.Add(new ChatMessage { Role = Role.Tool, ToolCallId = "call_1", Content = "18 C, sunny" });
        return request;
    }

    private static ChatRequest WithImage(ImageInput image)
    {
        var request = new ChatRequest { Model = "m" };
        var message = new ChatMessage { Role = Role.User };
        message.Parts.Add(new ContentPart { Text = "what is this?" });
        message.Parts.Add(new ContentPart { Image = image });
        request.Messages.Add(message);
        return request;
    }

    private static string Refusal(ChatRequest request, ServerSettings? limits = null)
    {
        var refused = Assert.Throws<RpcException>(() => RequestValidator.Validate(request, limits ?? ServerSettings.Default));
        Assert.Equal(StatusCode.InvalidArgument, refused.StatusCode);
        return refused.Status.Detail;
    }

    [Fact]
    public void Validate_ToolConversationWithImageAndSchema_Accepted()
    {
        var request = ToolConversation();
        request.Messages[0].Parts.Add(new ContentPart { Image = new ImageInput { Data = ByteString.CopyFrom(Png), MediaType = "image/png" } });
        request.Messages[0].Parts.Add(new ContentPart { Image = new ImageInput { Url = "https://example.com/cat.jpg", Detail = "low" } });
        request.Messages[0].Parts.Add(new ContentPart { Image = new ImageInput { Url = "data:image/jpeg;base64," + Convert.ToBase64String(Jpeg) } });
        request.ToolChoice = new ToolChoice { ToolName = "get_weather" };
        request.ResponseFormat = new ResponseFormat { JsonSchema = new JsonSchemaFormat { Name = "report", SchemaJson = WeatherSchema } };

        RequestValidator.Validate(request, ServerSettings.Default);
    }

    [Theory]
    [InlineData("""{"type":"object","properties":{"city":{"type":"strin"}}}""", "tools[0].parameters_json: not a valid JSON Schema")]
    [InlineData("""{"type":"object","required":"city"}""", "tools[0].parameters_json: not a valid JSON Schema")]
    [InlineData("""{"type":"object",""", "tools[0].parameters_json: not valid JSON")]
    [InlineData("""["city"]""", "tools[0].parameters_json: a JSON Schema here must be a JSON object, not an array")]
    [InlineData("""{"type":"string"}""", "tools[0].parameters_json: the arguments are a JSON object, so the schema's type must be \"object\", not \"string\"")]
    [InlineData("""{"$schema":"https://example.com/my-draft","type":"object"}""", "tools[0].parameters_json: $schema: 'https://example.com/my-draft' is not a JSON Schema draft")]
    public void Validate_BadToolSchema_NamesTheToolsParameters(string schema, string expected)
    {
        var request = WithTools();
        request.Tools[0].ParametersJson = schema;

        Assert.StartsWith(expected, Refusal(request));
    }

    [Fact]
    public void Validate_Draft7SchemaAsZodWritesIt_Accepted()
    {
        var request = WithTools();
        request.Tools[0].ParametersJson = """{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","properties":{"n":{"type":"integer","exclusiveMinimum":0}},"additionalProperties":false}""";

        RequestValidator.Validate(request, ServerSettings.Default);
    }

    [Fact]
    public void Validate_SchemaOverTheLimit_NamesTheSetting()
    {
        var request = WithTools();
        request.Tools[0].ParametersJson = "{\"type\":\"object\",\"description\":\"" + new string('x', 400) + "\"}";

        var refusal = Refusal(request, ServerSettings.Default with { MaxSchemaBytes = 256 });

        Assert.Equal($"tools[0].parameters_json: {request.Tools[0].ParametersJson.Length} characters, over this mesh's limit of 256 (server.max_schema_bytes in the mesh file)", refusal);
    }

    [Fact]
    public void Validate_ToolResultNamingNoCall_NamesToolCallId()
    {
        var request = ToolConversation();
        request.Messages[2].ToolCallId = "call_9";

        Assert.Equal("messages[2].tool_call_id: 'call_9' names no tool call of an earlier assistant message", Refusal(request));
    }

    [Fact]
    public void Validate_ToolResultBeforeItsCall_NamesToolCallId()
    {
        var request = WithTools();
        request.Messages.Add(new ChatMessage { Role = Role.Tool, ToolCallId = "call_1", Content = "18 C" });

        Assert.StartsWith("messages[1].tool_call_id: 'call_1' names no tool call", Refusal(request));
    }

    [Fact]
    public void Validate_ToolResultWithoutId_NamesToolCallId()
    {
        var request = ToolConversation();
        request.Messages[2].ToolCallId = "";

        Assert.StartsWith("messages[2].tool_call_id: required on a tool result", Refusal(request));
    }

    [Theory]
    [InlineData("", "get_weather", "{}", "messages[1].tool_calls[0].id: required")]
    [InlineData("call_1", "get weather", "{}", "messages[1].tool_calls[0].name: 'get weather' is not a tool name")]
    [InlineData("call_1", "get_weather", "[1]", "messages[1].tool_calls[0].arguments_json: must be a JSON object, not an array")]
    [InlineData("call_1", "get_weather", "{\"city\":", "messages[1].tool_calls[0].arguments_json: not valid JSON")]
    public void Validate_BadToolCallInHistory_NamesTheCallField(string id, string name, string arguments, string expected)
    {
        var request = ToolConversation();
        request.Messages[1].ToolCalls[0] = new ToolCall { Id = id, Name = name, ArgumentsJson = arguments };
        request.Messages.RemoveAt(2);

        Assert.StartsWith(expected, Refusal(request));
    }

    [Fact]
    public void Validate_ToolCallsOnAUserMessage_Refused()
    {
        var request = WithTools();
        request.Messages[0].ToolCalls.Add(new ToolCall { Id = "c", Name = "get_weather" });

        Assert.StartsWith("messages[0].tool_calls: only an assistant message", Refusal(request));
    }

    [Fact]
    public void Validate_TwoToolsOfOneName_NamesTheSecond()
    {
        var request = WithTools();
        request.Tools.Add(new ToolDefinition { Name = "get_weather" });

        Assert.Equal("tools[1].name: 'get_weather' is defined twice", Refusal(request));
    }

    [Fact]
    public void Validate_ToolChoiceNamingAnUnknownTool_ListsTheTools()
    {
        var request = WithTools();
        request.ToolChoice = new ToolChoice { ToolName = "get_time" };

        Assert.Equal("tool_choice.tool_name: 'get_time' is not one of the request's tools (get_weather)", Refusal(request));
    }

    [Fact]
    public void Validate_RequiredToolChoiceWithoutTools_Refused()
    {
        var request = WithTools();
        request.Tools.Clear();
        request.ToolChoice = new ToolChoice { Mode = ToolChoiceMode.Required };

        Assert.StartsWith("tool_choice.mode: TOOL_CHOICE_MODE_REQUIRED needs at least one tool", Refusal(request));
    }

    [Fact]
    public void Validate_UnknownToolChoiceMode_Refused()
    {
        var request = WithTools();
        request.ToolChoice = new ToolChoice { Mode = (ToolChoiceMode)9 };

        Assert.StartsWith("tool_choice.mode: unknown mode 9", Refusal(request));
    }

    [Fact]
    public void Validate_TooManyTools_NamesTheLimit()
    {
        var request = WithTools();
        request.Tools.Clear();
        request.Tools.AddRange(Enumerable.Range(0, ChatContentValidator.MaxTools + 1).Select(i => new ToolDefinition { Name = $"t{i}" }));

        Assert.Equal($"tools: {ChatContentValidator.MaxTools + 1} tools, at most {ChatContentValidator.MaxTools} per request", Refusal(request));
    }

    [Theory]
    [InlineData("", "response_format.json_schema.schema_json: required")]
    [InlineData("""{"type":12}""", "response_format.json_schema.schema_json: not a valid JSON Schema")]
    [InlineData("not json", "response_format.json_schema.schema_json: not valid JSON")]
    public void Validate_BadResponseSchema_NamesSchemaJson(string schema, string expected)
    {
        var request = WithTools();
        request.ResponseFormat = new ResponseFormat { JsonSchema = new JsonSchemaFormat { SchemaJson = schema } };

        Assert.StartsWith(expected, Refusal(request));
    }

    [Fact]
    public void Validate_ImageOverTheLimit_NamesTheSetting()
    {
        var image = Png.Concat(new byte[2048]).ToArray();
        var request = WithImage(new ImageInput { Data = ByteString.CopyFrom(image), MediaType = "image/png" });

        var refusal = Refusal(request, ServerSettings.Default with { MaxImageBytes = 1024 });

        Assert.Equal($"messages[0].parts[1].image.data: the image is {image.Length} bytes, over this mesh's limit of 1024 bytes (server.max_image_bytes in the mesh file)", refusal);
    }

    [Theory]
    [InlineData("image/bmp", "messages[0].parts[1].image.media_type: 'image/bmp' is not supported (use image/png, image/jpeg, image/gif, image/webp)")]
    [InlineData("image/png", "messages[0].parts[1].image.data: not a PNG, JPEG, GIF or WebP image")]
    public void Validate_ImageOfAnUnknownType_NamesTheField(string mediaType, string expected)
    {
        var request = WithImage(new ImageInput { Data = ByteString.CopyFrom("BM\u0001\u0002fake bitmap"u8), MediaType = mediaType });

        Assert.StartsWith(expected, Refusal(request));
    }

    [Fact]
    public void Validate_ImageWhoseBytesContradictItsType_SaysWhatItIs()
    {
        var request = WithImage(new ImageInput { Data = ByteString.CopyFrom(Jpeg), MediaType = "image/png" });

        Assert.Equal("messages[0].parts[1].image.data: the image is a JPEG, but its media type says 'image/png'", Refusal(request));
    }

    [Theory]
    [InlineData("ftp://example.com/cat.png", "messages[0].parts[1].image.url: 'ftp://example.com/cat.png' is not an https, http or data URL")]
    [InlineData("data:image/png,rawbytes", "messages[0].parts[1].image.url: a data URL must be data:<media type>;base64,<base64 data>")]
    [InlineData("data:image/tiff;base64,AAAA", "messages[0].parts[1].image.url: the data URL's type 'image/tiff' is not supported")]
    public void Validate_BadImageUrl_NamesTheUrl(string url, string expected)
    {
        Assert.StartsWith(expected, Refusal(WithImage(new ImageInput { Url = url })));
    }

    [Fact]
    public void Validate_ImageInAnAssistantMessage_Refused()
    {
        var request = WithImage(new ImageInput { Data = ByteString.CopyFrom(Png) });
        request.Messages[0].Role = Role.Assistant;

        Assert.StartsWith("messages[0].parts[1].image: images go in user messages", Refusal(request));
    }

    [Fact]
    public void Validate_EmptyPart_Refused()
    {
        var request = WithImage(new ImageInput { Data = ByteString.CopyFrom(Png) });
        request.Messages[0].Parts.Add(new ContentPart());

        Assert.Equal("messages[0].parts[2]: empty part (set text or image)", Refusal(request));
    }
}
