using Grpc.Core;
using Grpc.Health.V1;
using LlmRouter.Common.Protocol;
using LlmRouter.Node.Backends.Simulated;
using LlmRouter.Tests.Infrastructure;
using static LlmRouter.Tests.Node.ChatRequests;

namespace LlmRouter.Tests.Node;

/// <summary>A client that leaves, a deadline that passes or a backend that stalls stops generation at once.</summary>
public sealed class CancellationTests
{
    // 20 tokens per second and a long answer: generation would run for seconds if nothing stopped it.
    private static readonly string SlowBackend = MeshYaml.Simulated(settings: "time_to_first_token: 0ms\ntokens_per_second: 20\ndefault_max_tokens: 1000");

    private static SimulationCounters Counters(TestNode node) => node.Catalog.Current.Backends[0].Simulation!;

    [Fact]
    public async Task Chat_ClientCancelsMidStream_BackendGenerationStopsAtOnce()
    {
        await using var node = await TestNode.StartAsync(MeshYaml.SingleNode(SlowBackend));
        var counters = Counters(node);
        using var cancel = new CancellationTokenSource();

        using var call = node.Router.Chat(Ask("sim-model", "a long answer please"), cancellationToken: cancel.Token);
        var deltas = 0;
        while (deltas < 2 && await call.ResponseStream.MoveNext(CancellationToken.None))
        {
            deltas += call.ResponseStream.Current.Delta is null ? 0 : 1;
        }

        // The generation ends first and its backend slot is handed back a step later: the test waits for both (a
        // loaded machine once read the slot in between).
        cancel.Cancel();
        var admission = node.Catalog.Current.Backends[0].Admission;
        await Eventually.WaitUntil(() => counters.ActiveGenerations == 0 && admission.Running == 0, "generation ends and its slot is free after the client cancels",
            () => $"active {counters.ActiveGenerations}, produced {counters.TokensProduced}, slots running {admission.Running}");

        Assert.Equal(1, counters.CancelledGenerations);
        Assert.Equal(0, counters.TokensAfterCancellation);
        Assert.InRange(counters.TokensProduced, 2, 10);
    }

    [Fact]
    public async Task Chat_ClientConnectionDropsMidStream_BackendGenerationStops()
    {
        await using var node = await TestNode.StartAsync(MeshYaml.SingleNode(SlowBackend));
        var counters = Counters(node);
        var channel = node.OpenChannel();

        var call = new V1.Router.RouterClient(channel).Chat(Ask("sim-model", "a long answer please"));
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        channel.Dispose();

        await Eventually.WaitUntil(() => counters.ActiveGenerations == 0, "generation ends after the connection drops",
            () => $"active {counters.ActiveGenerations}, produced {counters.TokensProduced}");
        Assert.Equal(1, counters.CancelledGenerations);
        Assert.InRange(counters.TokensProduced, 1, 10);
    }

    [Fact]
    public async Task Chat_DeadlinePassesMidStream_DeadlineExceededAndBackendStops()
    {
        await using var node = await TestNode.StartAsync(MeshYaml.SingleNode(SlowBackend));
        var counters = Counters(node);

        // A first answer readies the path (its code compiled, its connection open): on a loaded machine the first call
        // alone could outlast a short deadline before its generation began, and nothing would be mid-stream.
        await ReadAll(node.Router.Chat(Ask("sim-model", "warm up", maxTokens: 1)));
        var call = node.Router.Chat(Ask("sim-model", "a long answer please"), deadline: TimeProvider.System.GetUtcNow().UtcDateTime.AddSeconds(1));
        await Assert.ThrowsAsync<RpcException>(() => ReadAll(call));

        // The call's status, not the exception the read threw: when the client's deadline timer ends the call while a
        // read's continuation waits for a thread (seen once in CI, both cores busy), the status is set to
        // DeadlineExceeded first, and the read then finds its stream aborted, an IOException Grpc.Net.Client reports
        // as Unavailable ("Error reading next message").
        Assert.Equal(StatusCode.DeadlineExceeded, call.GetStatus().StatusCode);
        await Eventually.WaitUntil(() => counters.ActiveGenerations == 0, "generation ends after the deadline",
            () => $"active {counters.ActiveGenerations}, produced {counters.TokensProduced}");
        Assert.Equal(1, counters.CancelledGenerations);

        // The warm-up's one token, then at most what 20 tokens a second make in the deadline's second (with slack): the
        // generation stopped when the deadline passed, not at its 1000 tokens.
        Assert.InRange(counters.TokensProduced, 2, 1 + 30);
    }

    [Fact]
    public async Task Chat_BackendStallsAfterTwoTokens_UnavailableNamingTheBackendAndNodeStaysHealthy()
    {
        var stalling = MeshYaml.Simulated(
            settings: "time_to_first_token: 0ms\ntokens_per_second: 0\nstall_after_tokens: 2",
            limits: "stall_timeout: 300ms");
        await using var node = await TestNode.StartAsync(MeshYaml.SingleNode(stalling));

        var frames = new List<V1.ChatResponse>();
        var refused = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            // The stall is noticed after stall_timeout, long before first_token_timeout (60 s) or this deadline.
            await foreach (var frame in node.Router.Chat(Ask("sim-model", "stall"), deadline: TimeProvider.System.GetUtcNow().UtcDateTime.AddSeconds(15)).ResponseStream.ReadAllAsync())
            {
                frames.Add(frame);
            }
        });

        Assert.Equal(StatusCode.Unavailable, refused.StatusCode);
        Assert.Contains("backend 'sim' stalled", refused.Status.Detail);
        Assert.Contains("stall_timeout", refused.Status.Detail);
        Assert.Equal(2, frames.Count(f => f.Delta is not null));
        Assert.Equal(0, Counters(node).ActiveGenerations);
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, (await node.Health.CheckAsync(new HealthCheckRequest())).Status);
    }

    [Fact]
    public async Task Chat_BackendSilentBeforeFirstToken_UnavailableNamingFirstTokenTimeout()
    {
        var silent = MeshYaml.Simulated(settings: "time_to_first_token: 10s", limits: "first_token_timeout: 200ms");
        await using var node = await TestNode.StartAsync(MeshYaml.SingleNode(silent));

        var refused = await Assert.ThrowsAsync<RpcException>(() => ReadAll(node.Router.Chat(Ask("sim-model", "anyone?"))));

        Assert.Equal(StatusCode.Unavailable, refused.StatusCode);
        Assert.Contains("first_token_timeout", refused.Status.Detail);
        Assert.Null(refused.Trailers.GetValue(RouterMetadata.Partial));
        Assert.Equal(0, Counters(node).ActiveGenerations);
    }

    [Fact]
    public async Task Chat_InjectedFailureMidStream_UnavailableNamingTheBackend()
    {
        var failing = MeshYaml.Simulated(settings: "time_to_first_token: 0ms\ntokens_per_second: 0\nfail_after_tokens: 3");
        await using var node = await TestNode.StartAsync(MeshYaml.SingleNode(failing));

        var refused = await Assert.ThrowsAsync<RpcException>(() => ReadAll(node.Router.Chat(Ask("sim-model", "fail"))));

        Assert.Equal(StatusCode.Unavailable, refused.StatusCode);
        Assert.Equal("backend 'sim' failed: injected failure after 3 tokens", refused.Status.Detail);
        Assert.Equal("true", refused.Trailers.GetValue(RouterMetadata.Partial));
    }
}
