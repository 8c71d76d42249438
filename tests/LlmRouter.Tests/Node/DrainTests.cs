using Grpc.Core;
using Grpc.Health.V1;
using LlmRouter.Tests.Infrastructure;
using static LlmRouter.Tests.Node.ChatRequests;

namespace LlmRouter.Tests.Node;

/// <summary>Graceful shutdown: NOT_SERVING, new calls refused with UNAVAILABLE, open streams finish.</summary>
public sealed class DrainTests
{
    [Fact]
    public async Task Stop_WithOpenStream_HealthNotServingNewCallsRefusedOpenStreamCompletes()
    {
        var backend = MeshYaml.Simulated(settings: "time_to_first_token: 0ms\ntokens_per_second: 20");
        await using var node = await TestNode.StartAsync(MeshYaml.SingleNode(backend, server: "drain_notice: 200ms"));
        using var watch = node.Health.Watch(new HealthCheckRequest());
        Assert.True(await watch.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, watch.ResponseStream.Current.Status);

        using var open = node.Router.Chat(Ask("sim-model", "finish me", maxTokens: 12));
        Assert.True(await open.ResponseStream.MoveNext(CancellationToken.None));

        var stopping = node.StopAsync();
        Assert.True(await watch.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.NotServing, watch.ResponseStream.Current.Status);

        var refused = await Assert.ThrowsAsync<RpcException>(() => ReadAll(node.Router.Chat(Ask("sim-model", "too late"))));
        Assert.Equal(StatusCode.Unavailable, refused.StatusCode);
        Assert.Contains("draining", refused.Status.Detail);

        var rest = await ReadAll(open);
        Assert.NotNull(rest[^1].Completed);
        Assert.Equal(12, rest.Count(f => f.Delta is not null));
        await stopping;

        // A monitor's Watch stream ends once the node has drained, instead of holding the listener open.
        var watchEnded = await Assert.ThrowsAsync<RpcException>(() => watch.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(StatusCode.Unavailable, watchEnded.StatusCode);
    }

    [Fact]
    public async Task Stop_StreamOutlivesDrainBound_EndsWithUnavailableNotADroppedStream()
    {
        var backend = MeshYaml.Simulated(settings: "time_to_first_token: 0ms\ntokens_per_second: 5\ndefault_max_tokens: 1000");
        await using var node = await TestNode.StartAsync(MeshYaml.SingleNode(backend, server: "drain_timeout: 300ms"));

        using var open = node.Router.Chat(Ask("sim-model", "never finishes in time"));
        Assert.True(await open.ResponseStream.MoveNext(CancellationToken.None));
        var stopping = node.StopAsync();

        var ended = await Assert.ThrowsAsync<RpcException>(() => ReadAll(open));
        Assert.Equal(StatusCode.Unavailable, ended.StatusCode);
        Assert.Contains("shut down before the answer was complete", ended.Status.Detail);
        await stopping;
        Assert.Equal(0, node.Catalog.Current.Backends[0].Simulation!.ActiveGenerations);
    }
}
