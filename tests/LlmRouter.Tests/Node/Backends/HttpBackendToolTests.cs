using System.Text.Json.Nodes;
using LlmRouter.Tests.Fakes;
using LlmRouter.V1;
using static LlmRouter.Tests.Node.ChatRequests;

namespace LlmRouter.Tests.Node.Backends;

/// <summary>
/// Tools, structured output and token limits through the real OpenAI and Anthropic SDKs against local
/// servers that speak each wire format: tool calls stream out piece by piece as the provider sends them,
/// schemas go out as the client wrote them, and the token limit reaches a server that reads only max_tokens.
/// </summary>
public sealed class HttpBackendToolTests
{
    private const string WeatherSchema = """{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}""";

    private static readonly FakeToolCall Weather = new("call_abc", "get_weather", ["{\"ci", "ty\": \"Pa", "ris\"}"]);

    public static TheoryData<string> Providers => HttpBackendTests.Providers;

    public static TheoryData<string> OpenAIKinds => ["openai-compatible", "openai"];

    private static ChatRequest AskWithTools(string model)
    {
        var request = Ask(model, "weather in Paris?");
        request.Tools.Add(new ToolDefinition { Name = "get_weather", Description = "the weather now", ParametersJson = WeatherSchema });
        return request;
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Chat_ProviderStreamsAToolCall_EachPieceRelayedAsItsOwnDelta(string provider)
    {
        var (server, node, model) = await HttpBackendTests.Start(provider);
        await using var _ = server;
        await using var __ = node;
        server.Reply = new FakeReply { Tokens = ["Let me", " check."], ToolCall = Weather };

        var frames = await ReadAll(node.Router.Chat(AskWithTools(model)));

        Assert.Equal("Let me check.", Text(frames));
        var calls = frames.Where(f => f.FrameCase == ChatResponse.FrameOneofCase.ToolCall).Select(f => f.ToolCall).ToList();
        Assert.Equal(
            [new ToolCallDelta { Id = "call_abc", Name = "get_weather" }, .. Weather.ArgumentPieces.Select(piece => new ToolCallDelta { Arguments = piece })],
            calls);
        Assert.Equal(FinishReason.ToolCalls, frames[^1].Completed.FinishReason);
    }

    [Theory]
    [MemberData(nameof(OpenAIKinds))]
    public async Task Chat_ServerEndsAToolCallWithStop_TheClientIsToldToolCalls(string kind)
    {
        var (server, node, model) = await HttpBackendTests.Start(kind);
        await using var _ = server;
        await using var __ = node;
        server.Reply = new FakeReply { Tokens = [], ToolCall = Weather, Finish = "stop" };

        var frames = await ReadAll(node.Router.Chat(AskWithTools(model)));

        Assert.Equal(FinishReason.ToolCalls, frames[^1].Completed.FinishReason);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Chat_ToolConversation_CallsAndResultsReachTheProviderInItsOwnShape(string provider)
    {
        var (server, node, model) = await HttpBackendTests.Start(provider);
        await using var _ = server;
        await using var __ = node;
        var request = AskWithTools(model);
        var turn = new ChatMessage { Role = Role.Assistant };
        turn.ToolCalls.Add(new ToolCall { Id = "call_abc", Name = "get_weather", ArgumentsJson = """{"city":"Paris"}""" });
        request.Messages.Add(turn);
        request.Messages.Add(new ChatMessage { Role = Role.Tool, ToolCallId = "call_abc", Content = "18 C, sunny" });

        await ReadAll(node.Router.Chat(request));

        var messages = server.Requests[^1]["messages"]!.AsArray();
        if (provider != "anthropic")
        {
            Assert.Equal("call_abc", messages[1]!["tool_calls"]![0]!["id"]!.GetValue<string>());
            Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"city":"Paris"}"""), JsonNode.Parse(messages[1]!["tool_calls"]![0]!["function"]!["arguments"]!.GetValue<string>())));
            Assert.Equal("tool", messages[2]!["role"]!.GetValue<string>());
            Assert.Equal("call_abc", messages[2]!["tool_call_id"]!.GetValue<string>());
            Assert.Equal("18 C, sunny", messages[2]!["content"]!.GetValue<string>());
        }
        else
        {
            Assert.Equal("tool_use", messages[1]!["content"]![0]!["type"]!.GetValue<string>());
            Assert.Equal("Paris", messages[1]!["content"]![0]!["input"]!["city"]!.GetValue<string>());
            var result = messages[2]!["content"]![0]!;
            Assert.Equal("tool_result", result["type"]!.GetValue<string>());
            Assert.Equal("call_abc", result["tool_use_id"]!.GetValue<string>());
            Assert.Contains("18 C, sunny", result["content"]!.ToJsonString());
        }
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Chat_ImageAndJsonSchema_ReachTheProviderInItsOwnShape(string provider)
    {
        var (server, node, model) = await HttpBackendTests.Start(provider);
        await using var _ = server;
        await using var __ = node;
        byte[] png = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A, 1, 2, 3];
        var request = Ask(model, "what is in this picture?");
        request.Messages[0].Parts.Add(new ContentPart { Image = new ImageInput { Data = Google.Protobuf.ByteString.CopyFrom(png), MediaType = "image/png" } });
        request.ResponseFormat = new ResponseFormat { JsonSchema = new JsonSchemaFormat { Name = "report", SchemaJson = WeatherSchema } };

        await ReadAll(node.Router.Chat(request));

        var body = server.Requests[^1];
        var parts = body["messages"]![0]!["content"]!.AsArray();
        if (provider != "anthropic")
        {
            Assert.Equal("data:image/png;base64," + Convert.ToBase64String(png), parts.Single(p => p!["type"]!.GetValue<string>() == "image_url")!["image_url"]!["url"]!.GetValue<string>());
            Assert.True(JsonNode.DeepEquals(JsonNode.Parse(WeatherSchema), body["response_format"]!["json_schema"]!["schema"]));
        }
        else
        {
            var source = parts.Single(p => p!["type"]!.GetValue<string>() == "image")!["source"]!;
            Assert.Equal("image/png", source["media_type"]!.GetValue<string>());
            Assert.Equal(Convert.ToBase64String(png), source["data"]!.GetValue<string>());
            Assert.Equal("json_schema", body["output_config"]!["format"]!["type"]!.GetValue<string>());
            Assert.Equal("string", body["output_config"]!["format"]!["schema"]!["properties"]!["city"]!["type"]!.GetValue<string>());
        }
    }

    [Theory]
    [MemberData(nameof(OpenAIKinds))]
    public async Task Chat_OpenAI_ToolsSchemaAndChoiceGoOutAsTheClientWroteThem(string kind)
    {
        var (server, node, model) = await HttpBackendTests.Start(kind);
        await using var _ = server;
        await using var __ = node;
        var request = AskWithTools(model);
        request.ToolChoice = new ToolChoice { ToolName = "get_weather" };
        request.ParallelToolCalls = false;
        request.ResponseFormat = new ResponseFormat { JsonSchema = new JsonSchemaFormat { Name = "report", SchemaJson = WeatherSchema, Strict = true } };

        await ReadAll(node.Router.Chat(request));

        var body = server.Requests[^1];
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(WeatherSchema), body["tools"]![0]!["function"]!["parameters"]), body["tools"]!.ToJsonString());
        Assert.Equal("get_weather", body["tool_choice"]!["function"]!["name"]!.GetValue<string>());
        Assert.False(body["parallel_tool_calls"]!.GetValue<bool>());
        Assert.Equal("json_schema", body["response_format"]!["type"]!.GetValue<string>());
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(WeatherSchema), body["response_format"]!["json_schema"]!["schema"]));
        Assert.True(body["response_format"]!["json_schema"]!["strict"]!.GetValue<bool>());
    }

    [Fact]
    public async Task Chat_ServerThatReadsOnlyMaxTokens_TheClientsLimitHolds()
    {
        var (server, node, model) = await HttpBackendTests.Start("openai-compatible");
        await using var _ = server;
        await using var __ = node;
        server.Reply = new FakeReply { Tokens = ["a", "b", "c", "d", "e", "f"], TokenLimitField = "max_tokens" };

        var frames = await ReadAll(node.Router.Chat(Ask(model, "count", maxTokens: 2)));

        Assert.Equal("ab", Text(frames));
        Assert.Equal(2, server.Requests[^1]["max_tokens"]!.GetValue<int>());
        Assert.Null(server.Requests[^1]["max_completion_tokens"]);
    }

    [Fact]
    public async Task Chat_MaxCompletionTokensFieldSet_TheLimitGoesInThatField()
    {
        var (server, node, model) = await HttpBackendTests.Start("openai-compatible", limits: "  max_tokens_field: max_completion_tokens");
        await using var _ = server;
        await using var __ = node;
        server.Reply = new FakeReply { Tokens = ["a", "b", "c", "d", "e", "f"], TokenLimitField = "max_tokens" };

        var frames = await ReadAll(node.Router.Chat(Ask(model, "count", maxTokens: 2)));

        // The setting is obeyed; a server that reads only max_tokens then ignores the limit, as llama.cpp did.
        Assert.Equal(2, server.Requests[^1]["max_completion_tokens"]!.GetValue<int>());
        Assert.Null(server.Requests[^1]["max_tokens"]);
        Assert.Equal("abcdef", Text(frames));
    }

    [Theory]
    [MemberData(nameof(OpenAIKinds))]
    public async Task Chat_LocalServerStreamWithoutRoleAndUsageOnlyInTheLastChunk_TextAndUsageRelayed(string kind)
    {
        var (server, node, model) = await HttpBackendTests.Start(kind);
        await using var _ = server;
        await using var __ = node;
        server.Reply = new FakeReply { Tokens = ["No", " role", " here"], LocalServerStream = true, InputTokens = 9 };

        var frames = await ReadAll(node.Router.Chat(Ask(model, "hi")));

        Assert.Equal("No role here", Text(frames));
        Assert.Equal(9UL, frames[^1].Completed.Usage.InputTokens);
        Assert.Equal(3UL, frames[^1].Completed.Usage.OutputTokens);
        Assert.Equal(FinishReason.Stop, frames[^1].Completed.FinishReason);
    }
}
