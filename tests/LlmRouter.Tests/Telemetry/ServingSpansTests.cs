using Grpc.Core;
using LlmRouter.Tests.Fakes;
using LlmRouter.Tests.Infrastructure;
using LlmRouter.Tests.Node.Backends;
using static LlmRouter.Tests.Node.ChatRequests;

namespace LlmRouter.Tests.Telemetry;

/// <summary>
/// The spans a serving node records for one traced request, read from a receiver the node exports to over OTLP:
/// the request's span, its attempt and the backend call, and an admission span only when the request queued for
/// a slot. The backend's server is told the backend call's span as its parent in the <c>traceparent</c> it gets,
/// for every kind of HTTP backend (our wire client, the OpenAI SDK, the Anthropic SDK): no HTTP span of its own
/// stands between them.
/// </summary>
/// <remarks>
/// The tests of this class run one after another: a node's tracer listens to the process's activity sources, so
/// two traced nodes alive at once would each export the other's spans too.
/// </remarks>
public sealed class ServingSpansTests
{
    // The client's own span, the parent of the request's span at the node.
    private const string ClientSpan = "00f067aa0ba902b7";

    [Theory]
    [MemberData(nameof(HttpBackendTests.Providers), MemberType = typeof(HttpBackendTests))]
    public async Task HttpBackendCall_ItsServerSeesTheBackendSpanAsItsParent(string provider)
    {
        await using var receiver = await OtlpReceiver.StartAsync();
        var (server, node, model) = await HttpBackendTests.Start(provider, sections: Exporting(receiver));
        await using var _ = server;
        await using var __ = node;
        server.Reply = new FakeReply { Tokens = ["traced", "."], InputTokens = 5 };
        var traceId = NewTraceId();
        // HttpClient's own activities, had it made any for the call (filtered by the trace: other tests' calls go on).
        var httpClientActivities = new System.Collections.Concurrent.ConcurrentBag<string>();
        using var listener = new System.Diagnostics.ActivityListener
        {
            ShouldListenTo = source => source.Name == "System.Net.Http",
            Sample = (ref System.Diagnostics.ActivityCreationOptions<System.Diagnostics.ActivityContext> _) => System.Diagnostics.ActivitySamplingResult.PropagationData,
            ActivityStarted = activity => httpClientActivities.Add(activity.TraceId.ToHexString()),
        };
        System.Diagnostics.ActivitySource.AddActivityListener(listener);

        var frames = await ReadAll(node.Router.Chat(Ask(model, "trace the call", maxTokens: 8), Parent(traceId)));
        Assert.Equal(2UL, frames[^1].Completed.Usage.OutputTokens);
        Assert.DoesNotContain(traceId, httpClientActivities);

        var trace = await TraceAsync(receiver, traceId, spans => spans.Any(s => s.Span.Name == $"chat {model}") && spans.Any(s => s.Span.Name == "chat"));
        var backend = trace.Single(s => s.Span.Name == $"chat {model}");
        Assert.Equal(3, (int)backend.Span.Kind);
        Assert.Equal($"00-{traceId}-{backend.SpanId}-01", Assert.Single(server.TraceParents));

        // The request's span, its one attempt, the backend call below it; no admission span (a slot was free).
        var chat = trace.Single(s => s.Span.Name == "chat");
        var attempt = trace.Single(s => s.Span.Name.StartsWith("attempt ", StringComparison.Ordinal));
        Assert.Equal((ClientSpan, chat.SpanId, attempt.SpanId), (chat.ParentId, attempt.ParentId, backend.ParentId));
        Assert.Equal(3, trace.Count);
    }

    [Fact]
    public async Task RequestThatQueues_HasAnAdmissionSpanForItsWait_OneThatDoesNot_HasNone()
    {
        await using var receiver = await OtlpReceiver.StartAsync();
        await using var node = await TestNode.StartAsync(
            MeshYaml.SingleNode(MeshYaml.Simulated(id: "sim", model: "m", settings: "time_to_first_token: 0ms\ntokens_per_second: 20", limits: "max_concurrency: 1\nmax_queue: 4"))
            + Exporting(receiver));
        var (holderTrace, queuedTrace) = (NewTraceId(), NewTraceId());

        // The first request takes the one slot and holds it (a long answer at 20 tokens a second); its first frame
        // is written only once it has the slot.
        using var holdCancel = new CancellationTokenSource();
        using var holder = node.Router.Chat(Ask("m", "hold the slot", maxTokens: 2000), Parent(holderTrace), cancellationToken: holdCancel.Token);
        Assert.True(await holder.ResponseStream.MoveNext(CancellationToken.None));

        // The second queues behind it until the first is cancelled.
        using var queued = node.Router.Chat(Ask("m", "wait for a slot", maxTokens: 2), Parent(queuedTrace));
        var admission = node.Catalog.Current.Backends.Single().Admission;
        await Eventually.WaitUntil(() => admission.Queued == 1, "the second request queued", () => $"running {admission.Running}, queued {admission.Queued}");
        await holdCancel.CancelAsync();
        var frames = await ReadAll(queued);
        Assert.Equal(2UL, frames[^1].Completed.Usage.OutputTokens);

        var waited = await TraceAsync(receiver, queuedTrace, spans => spans.Any(s => s.Span.Name == "chat m") && spans.Any(s => s.Span.Name == "chat"));
        var wait = waited.Single(s => s.Span.Name == "admission sim");
        var attempt = waited.Single(s => s.Span.Name.StartsWith("attempt ", StringComparison.Ordinal));
        var call = waited.Single(s => s.Span.Name == "chat m");
        Assert.Equal((attempt.SpanId, attempt.SpanId), (wait.ParentId, call.ParentId));
        Assert.True(wait.Span.EndTimeUnixNano <= call.Span.StartTimeUnixNano, $"the wait ends before the call starts:\n{string.Join("\n", waited)}");

        var held = await TraceAsync(receiver, holderTrace, spans => spans.Any(s => s.Span.Name == "chat"));
        Assert.DoesNotContain(held, s => s.Span.Name.StartsWith("admission", StringComparison.Ordinal));
        Assert.Contains(held, s => s.Span.Name == "chat m");
    }

    [Fact]
    public async Task ClientsSampledCalls_PastTheLimit_GoOnUnsampled_AndLeaveNoSpans()
    {
        await using var receiver = await OtlpReceiver.StartAsync();
        var (server, node, model) = await HttpBackendTests.Start("openai-compatible", sections: Exporting(receiver, "  max_traces_per_second: 1\n"));
        await using var _ = server;
        await using var __ = node;
        server.Reply = new FakeReply { Tokens = ["ok"] };

        // A client that samples every call, ten calls in a row: the entry node traces at most one a second of them
        // (one at once after a quiet spell).
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var traces = new List<string>();
        for (var i = 0; i < 10; i++)
        {
            traces.Add(NewTraceId());
            await ReadAll(node.Router.Chat(Ask(model, "sampled by its client", maxTokens: 2), Parent(traces[^1])));
        }

        var elapsed = clock.Elapsed;
        var sent = server.TraceParents;
        Assert.Equal(10, sent.Count);
        var traced = Enumerable.Range(0, 10).Where(i => sent[i]!.EndsWith("-01", StringComparison.Ordinal)).ToList();
        Assert.InRange(traced.Count, 1, 1 + (int)elapsed.TotalSeconds);

        // Every call went on with the client's trace id; a declined one unsampled, so nothing below the entry records a
        // part of it. A call traced once the limit has room again ends after all ten, and the node exports spans in the
        // order they end: once its spans are in, a declined call's would be too.
        Assert.All(Enumerable.Range(0, 10), i => Assert.StartsWith($"00-{traces[i]}-", sent[i], StringComparison.Ordinal));
        var last = "";
        await Eventually.WaitUntil(async () =>
            {
                last = NewTraceId();
                await ReadAll(node.Router.Chat(Ask(model, "traced once there is room", maxTokens: 2), Parent(last)));
                return server.TraceParents[^1]!.EndsWith("-01", StringComparison.Ordinal);
            },
            "a sampled call traced once the limit has room again", () => Task.FromResult(string.Join("\n", server.TraceParents)), TimeSpan.FromSeconds(30));

        await TraceAsync(receiver, last, spans => spans.Any(s => s.Span.Name == "chat"));
        Assert.All(Enumerable.Range(0, 10).Except(traced), i =>
        {
            Assert.EndsWith("-00", sent[i], StringComparison.Ordinal);
            Assert.DoesNotContain(receiver.Spans, s => s.TraceId == traces[i]);
        });
    }

    private static string Exporting(OtlpReceiver receiver, string settings = "") => $"""

        telemetry:
        {settings}  otlp:
            endpoint: {receiver.Endpoint}
            protocol: http/protobuf
            metrics: false
        """;

    private static string NewTraceId() => Convert.ToHexStringLower(Guid.NewGuid().ToByteArray());

    private static Metadata Parent(string traceId) => new() { { "traceparent", $"00-{traceId}-{ClientSpan}-01" } };

    /// <summary>
    /// The trace's spans once <paramref name="complete"/> holds and every span's parent has come too (a node may send
    /// one request's spans in two batches, every 5 s by default).
    /// </summary>
    private static async Task<List<ReceivedSpan>> TraceAsync(OtlpReceiver receiver, string traceId, Func<List<ReceivedSpan>, bool> complete)
    {
        List<ReceivedSpan> Trace() => receiver.Spans.Where(s => s.TraceId == traceId).ToList();
        await Eventually.WaitUntil(
            () => Trace() is var spans && complete(spans) && spans.All(s => s.ParentId == ClientSpan || spans.Any(parent => parent.SpanId == s.ParentId)),
            $"the spans of trace {traceId}", () => string.Join("\n", receiver.Spans), TimeSpan.FromSeconds(30));
        return Trace();
    }
}
