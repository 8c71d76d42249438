using System.Text.Json;
using Json.Schema;
using LlmRouter.Tests.Infrastructure;

namespace LlmRouter.Tests.Ingress;

/// <summary>A mesh for the SDK tests: a1 in pool a, b1 behind integrator i1 in pool b (its model m-b has tools, json and vision), and a single node with an embedding model.</summary>
public sealed class SdkMesh : IAsyncLifetime
{
    internal BorderMesh Border { get; private set; } = null!;

    internal TestNode Embedder { get; private set; } = null!;

    public Uri EntryIngress => Border.Nodes["a1"].IngressAddress!;

    public async Task InitializeAsync()
    {
        Border = await BorderMesh.StartAsync([("a", [("a1", "m-a")]), ("b", [("b1", "m-b")])], [("i1", ["a", "b"], [])]);
        await Border.RouteKnownAsync("a1", "m-b", "i1");
        Embedder = await TestNode.StartAsync(MeshYaml.SingleNode(MeshYaml.Simulated()), httpIngress: true);
    }

    public async Task DisposeAsync()
    {
        await Embedder.DisposeAsync();
        await Border.DisposeAsync();
    }
}

/// <summary>
/// The official OpenAI and Anthropic npm SDKs, pointed at a node as if it were OpenAI or Anthropic: streamed
/// and whole chats, tools end to end through a forward and an integrator (a1 > i1 > b1), JSON schema,
/// embeddings, models and errors, each checked on what the SDK itself parsed.
/// </summary>
public sealed class SdkClientTests(SdkMesh mesh) : IClassFixture<SdkMesh>
{
    private const string WeatherSchema = """{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer","minimum":1,"maximum":7}},"required":["city","days"]}""";

    private Task<JsonElement> OpenAI(string scenario, string model = "m-b") => SdkClients.RunAsync("openai_client.mjs", scenario, mesh.EntryIngress, model);

    private Task<JsonElement> Anthropic(string scenario, string model = "m-b") => SdkClients.RunAsync("anthropic_client.mjs", scenario, mesh.EntryIngress, model);

    private static bool FollowsWeatherSchema(string json) => JsonSchema.FromText(WeatherSchema).Evaluate(JsonDocument.Parse(json).RootElement).IsValid;

    [Fact]
    public async Task OpenAISdk_StreamedChatAcrossTheBorder_EveryChunkParsedWithUsageAndRoute()
    {
        var seen = await OpenAI("streamed");

        Assert.NotEmpty(seen.GetProperty("text").GetString()!);
        // The role chunk, five tokens, the finish chunk and the usage chunk.
        Assert.Equal(8, seen.GetProperty("chunks").GetInt32());
        Assert.Equal("length", seen.GetProperty("finish").GetString());
        Assert.Equal(5, seen.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        Assert.Equal("a1>i1>b1", seen.GetProperty("route").GetString());
        Assert.Equal("b1", seen.GetProperty("serving").GetString());
    }

    [Fact]
    public async Task OpenAISdk_WholeAnswer_ContentUsageAndHopTimings()
    {
        var seen = await OpenAI("whole");

        Assert.NotEmpty(seen.GetProperty("text").GetString()!);
        Assert.Equal("length", seen.GetProperty("finish").GetString());
        Assert.Equal(4, seen.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        Assert.Matches("^b1;ttft=[0-9.]+;queue=[0-9.]+;total=[0-9.]+, i1;.*, a1;", seen.GetProperty("hops").GetString()!);
    }

    [Fact]
    public async Task OpenAISdk_ToolsThroughAForwardAndAnIntegrator_CallStreamedThenResultAnswered()
    {
        var seen = await OpenAI("tools");

        var call = Assert.Single(seen.GetProperty("calls").EnumerateArray());
        Assert.Equal("get_weather", call.GetProperty("name").GetString());
        Assert.StartsWith("call_", call.GetProperty("id").GetString());
        Assert.True(FollowsWeatherSchema(call.GetProperty("arguments").GetString()!), call.GetProperty("arguments").GetString());
        Assert.True(seen.GetProperty("deltas").GetInt32() > 3, $"{seen.GetProperty("deltas")} deltas");
        Assert.Equal("tool_calls", seen.GetProperty("finish").GetString());
        Assert.NotEmpty(seen.GetProperty("answer").GetString()!);
        Assert.Equal("stop", seen.GetProperty("answerFinish").GetString());
    }

    [Fact]
    public async Task OpenAISdk_JsonSchema_ContentFollowsIt()
    {
        var seen = await OpenAI("schema");

        Assert.True(FollowsWeatherSchema(seen.GetProperty("content").GetString()!), seen.GetProperty("content").GetString());
    }

    [Fact]
    public async Task OpenAISdk_Embeddings_Base64AsTheSdkAsksAndFloatsAgree()
    {
        var seen = await SdkClients.RunAsync("openai_client.mjs", "embeddings", mesh.Embedder.IngressAddress!, "sim-model", "sim-model-embed");

        Assert.Equal(2, seen.GetProperty("count").GetInt32());
        Assert.Equal(16, seen.GetProperty("dimensions").GetInt32());
        Assert.Equal(
            seen.GetProperty("float").EnumerateArray().Select(v => v.GetSingle()),
            seen.GetProperty("first").EnumerateArray().Select(v => v.GetSingle()));
    }

    [Fact]
    public async Task OpenAISdk_Models_ListsWhatIsInReachAcrossTheBorder()
    {
        var seen = await OpenAI("models");

        var ids = seen.GetProperty("ids").EnumerateArray().Select(id => id.GetString()).ToList();
        Assert.Contains("m-a", ids);
        Assert.Contains("m-b", ids);
    }

    [Fact]
    public async Task OpenAISdk_Errors_StatusTypeAndParamAsOpenAISends()
    {
        var errors = (await OpenAI("errors")).GetProperty("errors").EnumerateArray().ToList();

        Assert.Equal(404, errors[0].GetProperty("status").GetInt32());
        Assert.Equal("NotFoundError", errors[0].GetProperty("kind").GetString());
        Assert.Contains("no-such-model", errors[0].GetProperty("message").GetString());
        Assert.Equal(400, errors[1].GetProperty("status").GetInt32());
        Assert.Equal("temperature", errors[1].GetProperty("param").GetString());
        Assert.Equal("invalid_request_error", errors[1].GetProperty("type").GetString());
        Assert.Equal(400, errors[2].GetProperty("status").GetInt32());
        Assert.Equal("tools[0].function.parameters", errors[2].GetProperty("param").GetString());
        Assert.Contains("not a valid JSON Schema", errors[2].GetProperty("message").GetString());
    }

    [Fact]
    public async Task AnthropicSdk_StreamedMessage_TheEventSequenceAndTheHelpersFinalMessage()
    {
        var seen = await Anthropic("streamed");

        Assert.Equal(
            ["message_start", "content_block_start", .. Enumerable.Repeat("content_block_delta", 5), "content_block_stop", "message_delta", "message_stop"],
            seen.GetProperty("events").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(seen.GetProperty("text").GetString(), seen.GetProperty("finalText").GetString());
        Assert.Equal("max_tokens", seen.GetProperty("stop").GetString());
        Assert.Equal(5, seen.GetProperty("usage").GetProperty("output_tokens").GetInt32());
    }

    [Fact]
    public async Task AnthropicSdk_ToolUseThroughAForwardAndAnIntegrator_InputStreamedThenResultAnswered()
    {
        var seen = await Anthropic("tools");

        var call = Assert.Single(seen.GetProperty("calls").EnumerateArray());
        Assert.Equal("get_weather", call.GetProperty("name").GetString());
        Assert.True(FollowsWeatherSchema(call.GetProperty("input").GetRawText()), call.GetProperty("input").GetRawText());
        Assert.True(seen.GetProperty("inputDeltas").GetInt32() > 3, $"{seen.GetProperty("inputDeltas")} input deltas");
        Assert.Equal("tool_use", seen.GetProperty("stop").GetString());
        Assert.NotEmpty(seen.GetProperty("answer").GetString()!);
        Assert.Equal("end_turn", seen.GetProperty("answerStop").GetString());
    }

    [Fact]
    public async Task AnthropicSdk_WholeMessageAndModels()
    {
        var whole = await Anthropic("whole");
        var models = await Anthropic("models");

        Assert.NotEmpty(whole.GetProperty("text").GetString()!);
        Assert.Equal("max_tokens", whole.GetProperty("stop").GetString());
        Assert.Equal(4, whole.GetProperty("usage").GetProperty("output_tokens").GetInt32());
        Assert.Contains("m-b", models.GetProperty("ids").EnumerateArray().Select(id => id.GetString()));
    }

    [Fact]
    public async Task AnthropicSdk_Errors_StatusAndTypeAsAnthropicSends()
    {
        var errors = (await Anthropic("errors")).GetProperty("errors").EnumerateArray().ToList();

        Assert.Equal(404, errors[0].GetProperty("status").GetInt32());
        Assert.Equal("not_found_error", errors[0].GetProperty("type").GetString());
        Assert.Equal("NotFoundError", errors[0].GetProperty("kind").GetString());
        Assert.Equal(400, errors[1].GetProperty("status").GetInt32());
        Assert.Equal("invalid_request_error", errors[1].GetProperty("type").GetString());
        Assert.StartsWith("messages[0].content[0].type: 'document'", errors[1].GetProperty("message").GetString());
    }
}
