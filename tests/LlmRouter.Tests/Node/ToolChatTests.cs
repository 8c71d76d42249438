using System.Text.Json;
using Grpc.Core;
using Json.Schema;
using LlmRouter.Common.Protocol;
using LlmRouter.Tests.Infrastructure;
using LlmRouter.V1;
using static LlmRouter.Tests.Node.ChatRequests;

namespace LlmRouter.Tests.Node;

/// <summary>
/// Tools and structured output end to end over gRPC on the simulated models: tool call deltas relayed
/// frame by frame through a forward and through an integrator, tool results answered in text, models
/// without the features a request needs left out (or refused, naming the field), and a tool call cut
/// mid-arguments never finished by another model.
/// </summary>
public sealed class ToolChatTests
{
    private const string WeatherSchema = """{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer","minimum":1,"maximum":7}},"required":["city","days"]}""";

    private static ChatRequest AskWithTools(string model, string text = "what is the weather? use get_weather")
    {
        var request = Ask(model, text);
        request.Tools.Add(new ToolDefinition { Name = "get_time", Description = "the time now" });
        request.Tools.Add(new ToolDefinition { Name = "get_weather", Description = "the weather", ParametersJson = WeatherSchema });
        return request;
    }

    private static List<ToolCallDelta> Calls(IEnumerable<ChatResponse> frames) =>
        frames.Where(f => f.FrameCase == ChatResponse.FrameOneofCase.ToolCall).Select(f => f.ToolCall).ToList();

    /// <summary>Checks the calls' deltas and returns each call's id, name and arguments.</summary>
    private static List<ToolCall> Assembled(List<ToolCallDelta> deltas) =>
        deltas.GroupBy(d => d.Index).OrderBy(g => g.Key).Select(g =>
        {
            Assert.NotEmpty(g.First().Id);
            Assert.All(g.Skip(1), d => Assert.Empty(d.Id));
            return new ToolCall { Id = g.First().Id, Name = g.First().Name, ArgumentsJson = string.Concat(g.Select(d => d.Arguments)) };
        }).ToList();

    private static Task<TestMesh> TwoNodes(string n2Simulated = "time_to_first_token: 0ms\ntokens_per_second: 0") =>
        TestMesh.StartAsync(2, backends: node => node == "n2"
            ? TestMesh.Backend("sim-n2", "agent", features: "[tools, json]", simulated: n2Simulated)
            : TestMesh.DefaultBackend(node));

    [Fact]
    public async Task Chat_ToolsThroughAForward_CallDeltasRelayedFrameByFrameThenTheResultAnswered()
    {
        await using var mesh = await TwoNodes();
        var n1 = mesh.Nodes[0];
        await n1.KnowsModelAsync("agent");

        var direct = await ReadAll(mesh.Nodes[1].Router.Chat(AskWithTools("agent")));
        var forwarded = await ReadAll(n1.Router.Chat(AskWithTools("agent")));

        Assert.Equal(["n1", "n2"], forwarded[0].Route.Path.Select(h => h.Node));
        Assert.Equal(Calls(direct), Calls(forwarded));
        Assert.True(Calls(forwarded).Count > 3, $"{Calls(forwarded).Count} deltas");
        var call = Assert.Single(Assembled(Calls(forwarded)));
        Assert.Equal("get_weather", call.Name);
        Assert.True(JsonSchema.FromText(WeatherSchema).Evaluate(JsonDocument.Parse(call.ArgumentsJson).RootElement).IsValid, call.ArgumentsJson);
        Assert.Equal(FinishReason.ToolCalls, forwarded[^1].Completed.FinishReason);
        Assert.Equal("", Text(forwarded));

        var next = AskWithTools("agent");
        var turn = new ChatMessage { Role = Role.Assistant };
        turn.ToolCalls.Add(call);
        next.Messages.Add(turn);
        next.Messages.Add(new ChatMessage { Role = Role.Tool, ToolCallId = call.Id, Content = "18 C and sunny" });
        var answer = await ReadAll(n1.Router.Chat(next));

        Assert.Empty(Calls(answer));
        Assert.NotEmpty(Text(answer));
        Assert.Equal(FinishReason.Stop, answer[^1].Completed.FinishReason);
    }

    [Fact]
    public async Task Chat_ToolsThroughAnIntegrator_SameDeltasAsAtTheServingNode()
    {
        await using var mesh = await BorderMesh.StartAsync(
            [("a", [("a1", "m-a")]), ("b", [("b1", "m-b")])],
            [("i1", ["a", "b"], [])]);
        await mesh.RouteKnownAsync("a1", "m-b", "i1");

        var direct = await ReadAll(mesh.Nodes["b1"].Router.Chat(AskWithTools("m-b")));
        var across = await ReadAll(mesh.Nodes["a1"].Router.Chat(AskWithTools("m-b")));

        Assert.Equal(["a1", "i1", "b1"], across[0].Route.Path.Select(h => h.Node));
        Assert.NotEmpty(Calls(across));
        Assert.Equal(Calls(direct), Calls(across));
        Assert.Equal(FinishReason.ToolCalls, across[^1].Completed.FinishReason);
    }

    [Fact]
    public async Task Chat_ModelWithoutTools_InvalidArgumentNamingToolsAndTheModelsThatHaveThem()
    {
        await using var mesh = await TwoNodes();
        var n1 = mesh.Nodes[0];
        await n1.KnowsModelAsync("agent");

        var refused = await Assert.ThrowsAsync<RpcException>(() => ReadAll(n1.Router.Chat(AskWithTools("model-n1"))));

        Assert.Equal(StatusCode.InvalidArgument, refused.StatusCode);
        Assert.Equal("tools: no copy of 'model-n1' in reach has the 'tools' feature, which the request needs (the request defines tools or carries tool calls or results); models with it: agent", refused.Status.Detail);
    }

    [Fact]
    public async Task Chat_AutoWithTools_OnlyAModelWithToolsIsChosen()
    {
        await using var mesh = await TwoNodes();
        var n1 = mesh.Nodes[0];
        await n1.KnowsModelAsync("agent");

        var plain = await ReadAll(n1.Router.Chat(Ask("auto", "hello", maxTokens: 2)));
        var tooled = await ReadAll(n1.Router.Chat(AskWithTools("auto")));

        Assert.Equal("model-n1", plain[0].Route.Model);
        Assert.Equal("agent", tooled[0].Route.Model);
        Assert.NotEmpty(Calls(tooled));
    }

    [Fact]
    public async Task Chat_JsonSchemaAskedThroughAForward_AnswerFollowsTheSchema()
    {
        await using var mesh = await TwoNodes();
        var n1 = mesh.Nodes[0];
        await n1.KnowsModelAsync("agent");
        var request = Ask("auto", "a forecast, please");
        request.ResponseFormat = new ResponseFormat { JsonSchema = new JsonSchemaFormat { Name = "forecast", SchemaJson = WeatherSchema } };

        var frames = await ReadAll(n1.Router.Chat(request));

        Assert.Equal("agent", frames[0].Route.Model);
        Assert.True(JsonSchema.FromText(WeatherSchema).Evaluate(JsonDocument.Parse(Text(frames)).RootElement).IsValid, Text(frames));
    }

    [Fact]
    public async Task Chat_ToolCallCutMidArguments_EndsPartialAndNoOtherModelFinishesIt()
    {
        // n2's copy ranks first and fails after three pieces (the call's start and two argument pieces);
        // n3's copy is healthy: with text it would continue, with a tool call begun it must not.
        await using var mesh = await TestMesh.StartAsync(3, backends: node => node switch
        {
            "n2" => TestMesh.Backend("sim-n2", "agent", quality: 0.9, features: "[tools]", simulated: "time_to_first_token: 0ms\ntokens_per_second: 0\nfail_after_tokens: 3"),
            "n3" => TestMesh.Backend("sim-n3", "agent", quality: 0.5, features: "[tools]"),
            _ => TestMesh.DefaultBackend(node),
        });
        var n1 = mesh.Nodes[0];
        await n1.KnowsModelAsync("agent", copies: 2);
        var request = AskWithTools("agent");
        request.AllowContinuation = true;
        var frames = new List<ChatResponse>();

        var refused = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await foreach (var frame in n1.Router.Chat(request).ResponseStream.ReadAllAsync())
            {
                frames.Add(frame);
            }
        });

        Assert.Equal(StatusCode.Unavailable, refused.StatusCode);
        Assert.Contains("injected failure after 3 tokens", refused.Status.Detail);
        Assert.Equal("true", refused.Trailers.GetValue(RouterMetadata.Partial));
        Assert.Equal(3, Calls(frames).Count);
        Assert.DoesNotContain(frames, f => f.Seam is not null);
        Assert.Equal(0, mesh.Nodes[2].Catalog.Current.Backends[0].Simulation!.StartedGenerations);
    }
}
