using Grpc.Core;
using LlmRouter.Common.Configuration;
using LlmRouter.Common.Identity;
using LlmRouter.Tests.Infrastructure;
using LlmRouter.V1;
using static LlmRouter.Tests.Node.ChatRequests;

namespace LlmRouter.Tests.Telemetry;

/// <summary>
/// One request across a border, every process real and exporting its spans over OTLP to a receiver the test
/// runs: the spans of the request form one tree, rooted in the client's traceparent, down through the entry
/// node, the integrator and the serving node to the backend call, with the routing decision and the GenAI
/// attributes on the spans that make them; membership's own traffic leaves no trace; each hop's log lines
/// of the request carry its trace id.
/// </summary>
[Collection(ProcessCollection.Name)]
public sealed class TraceTreeTests : IDisposable
{
    private readonly ProcessGroup _group = new("llmrouter-traces-");

    public void Dispose() => _group.Dispose();

    [Fact]
    public async Task RequestAcrossABorder_ItsSpansFromEveryHopFormOneTree()
    {
        await using var receiver = await OtlpReceiver.StartAsync();
        var (mesh, store) = await _group.StartMeshAsync(BorderMesh.Yaml([("a", [("a1", "near")]), ("b", [("b1", "far")])], [("i1", ["a", "b"], [])],
            "time_to_first_token: 0ms\ntokens_per_second: 0") + $"""
            telemetry:
              log_level: debug
              otlp:
                endpoint: {receiver.Endpoint}
                protocol: http/protobuf
                metrics: false

            """);
        using var toA1 = ProcessGroup.Channel(store, mesh.FindNode("a1")!.Listen);
        await Eventually.WaitUntil(Eventually.Answered(async () =>
                (await new Admin.AdminClient(toA1).ListMeshModelsAsync(new ListMeshModelsRequest())).Routes.Any(r => r.Route.Model.Id == "far")),
            "a1 has a route to far", () => Task.FromResult(_group.Outputs("not yet")), TimeSpan.FromSeconds(60));

        var traceId = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray());
        const string clientSpan = "00f067aa0ba902b7";
        var headers = new Metadata { { "traceparent", $"00-{traceId}-{clientSpan}-01" } };
        using var call = new Router.RouterClient(toA1).Chat(Ask("far", "trace me", maxTokens: 4), headers);
        var frames = await ReadAll(call);
        Assert.Equal(["a1", "i1", "b1"], frames.First(f => f.Route is not null).Route.Path.Select(hop => hop.Node));

        // Each process sends its spans in batches (every 5 s by default): wait for the backend call's and every hop's.
        List<ReceivedSpan> Trace() => receiver.Spans.Where(s => s.TraceId == traceId).ToList();
        // A process may send one request's spans in two batches: wait for every span the test reads, and for the
        // parent of every span received (a tree with a hole would read as two trees).
        bool Complete(List<ReceivedSpan> trace) =>
            trace.All(s => s.ParentId == clientSpan || trace.Any(parent => parent.SpanId == s.ParentId))
            && trace.Any(s => s.ParentId == clientSpan)
            && trace.Any(s => s.Span.Name == "chat far" && s.Instance == "b1" && s.Span.Kind == 3)
            && new[] { "a1", "i1", "b1" }.All(hop => trace.Any(s => s.Instance == hop && s.Span.Name == "chat")
                && trace.Any(s => s.Instance == hop && s.Span.Name.StartsWith("attempt ", StringComparison.Ordinal))
                && trace.Any(s => s.Instance == hop && s.Span.Kind == 2));
        await Eventually.WaitUntil(() => Complete(Trace()),
            "the request's span, attempt and server spans from a1, i1 and b1, and b1's backend call", () => string.Join("\n", Trace()), TimeSpan.FromSeconds(30));
        var spans = Trace();
        var byId = spans.ToDictionary(s => s.SpanId);

        var roots = spans.Where(s => !byId.ContainsKey(s.ParentId)).ToList();
        Assert.True(roots.Count == 1 && roots[0].ParentId == clientSpan, "not one tree under the client's span:\n" + string.Join("\n", spans));
        Assert.Equal("a1", roots[0].Instance);

        // The backend call's ancestry crosses every hop in order: b1's spans under i1's, i1's under a1's.
        var backend = spans.Single(s => s.Span.Name == "chat far" && s.Instance == "b1" && s.Span.Kind == 3);
        var ancestry = new List<ReceivedSpan>();
        for (var span = backend; byId.TryGetValue(span.ParentId, out var parent); span = parent)
        {
            ancestry.Add(parent);
        }

        var hops = ancestry.Select(s => s.Instance).Reverse().Distinct().ToList();
        Assert.Equal(["a1", "i1", "b1"], hops);
        Assert.Equal("chat", backend.Attribute("gen_ai.operation.name"));
        Assert.Equal("simulated", backend.Attribute("gen_ai.provider.name"));
        Assert.Equal(frames[^1].Completed.Usage.OutputTokens.ToString(System.Globalization.CultureInfo.InvariantCulture), backend.Attribute("gen_ai.usage.output_tokens"));

        // Each hop made its routing decision on its own request span, and tried its winner in an attempt span.
        foreach (var hop in new[] { "a1", "i1", "b1" })
        {
            var chat = spans.Single(s => s.Instance == hop && s.Span.Name == "chat");
            Assert.False(string.IsNullOrEmpty(chat.Attribute("llmrouter.winner")), $"{hop}'s chat span names no winner");
            Assert.Contains(ancestry, s => s.SpanId == chat.SpanId);
            Assert.Contains(ancestry, s => s.Instance == hop && s.Span.Name.StartsWith("attempt ", StringComparison.Ordinal));
        }

        // Each forward is a gRPC call (named as the RPC conventions name it), the parent of the next hop's request span:
        // its HTTP/2 request has no span of its own.
        foreach (var (hop, next) in new[] { ("a1", "i1"), ("i1", "b1") })
        {
            var forward = ancestry.Single(s => s.Instance == hop && s.Span.Name == "llmrouter.v1.Router/Chat");
            Assert.Equal(3, (int)forward.Span.Kind);
            Assert.Equal(("grpc", "0"), (forward.Attribute("rpc.system"), forward.Attribute("rpc.grpc.status_code")));
            Assert.Contains(ancestry, s => s.Instance == next && s.Span.Name == "chat" && s.ParentId == forward.SpanId);
        }

        Assert.DoesNotContain(spans, s => s.Span.Name == "POST");

        // Nothing else was traced: gossip, health checks and the admin call above start no trace of their own.
        Assert.All(receiver.Spans, s => Assert.Equal(traceId, s.TraceId));

        // The per-request log lines (Debug here) lead to the trace: every hop's name the request's trace id.
        foreach (var hop in new[] { "a1", "i1", "b1" })
        {
            await Eventually.WaitUntil(() => _group.Processes[hop].Output.Contains($"trace={traceId} span=", StringComparison.Ordinal),
                $"{hop} logs a line with the request's trace id", () => _group.Processes[hop].Output);
        }
    }
}
