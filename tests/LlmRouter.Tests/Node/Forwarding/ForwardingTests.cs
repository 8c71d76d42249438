using Grpc.Core;
using LlmRouter.Common.Protocol;
using LlmRouter.Tests.Infrastructure;
using LlmRouter.V1;
using static LlmRouter.Tests.Node.ChatRequests;

namespace LlmRouter.Tests.Node.Forwarding;

/// <summary>Requests served by the pool member that has the model: real nodes on loopback with mutual TLS.</summary>
public sealed class ForwardingTests
{
    private static LlmRouter.Node.Backends.Simulated.SimulationCounters Counters(TestNode node) => node.Catalog.Current.Backends[0].Simulation!;

    [Fact]
    public async Task Chat_ModelOnlyOnAPeer_ForwardedWithPathAndEveryHopsTiming()
    {
        await using var mesh = await TestMesh.StartAsync(2);
        var (n1, n2) = (mesh.Nodes[0], mesh.Nodes[1]);
        await n1.KnowsModelAsync("model-n2");

        var frames = await ReadAll(n1.Router.Chat(Ask("model-n2", "hello through the mesh", maxTokens: 5)));

        var route = frames[0].Route;
        Assert.Equal(("n2", "sim-n2", "model-n2"), (route.ServingNode, route.Backend, route.Model));
        Assert.Equal(["n1", "n2"], route.Path.Select(h => h.Node));
        Assert.Equal(5, frames.Count(f => f.Delta is not null));
        var completed = frames[^1].Completed;
        Assert.Equal(["n2", "n1"], completed.Hops.Select(h => h.Node));
        Assert.Equal(["sim-n2", ""], completed.Hops.Select(h => h.Backend));
        Assert.True(completed.Hops[1].Total.ToTimeSpan() >= completed.Hops[0].Total.ToTimeSpan());
        Assert.Equal(1, Counters(n2).StartedGenerations);
        Assert.Equal(0, Counters(n1).StartedGenerations);
    }

    [Fact]
    public async Task Chat_PathAlreadyHoldsTheNode_RefusedAsALoop()
    {
        await using var mesh = await TestMesh.StartAsync(1);
        var headers = new Metadata { { RouterMetadata.Path, "n9,n1" } };
        var asMember = new Router.RouterClient(mesh.Nodes[0].OpenChannel(presenting: "n1"));

        var refused = await Assert.ThrowsAsync<RpcException>(() => ReadAll(asMember.Chat(Ask("model-n1", "loop"), headers)));

        Assert.Equal(StatusCode.FailedPrecondition, refused.StatusCode);
        Assert.Equal("forwarding loop: node 'n1' is already on the path n9 > n1", refused.Status.Detail);
    }

    [Fact]
    public async Task Chat_ClientSendsForwardingHeaders_PermissionDeniedNamingTheHeader()
    {
        await using var mesh = await TestMesh.StartAsync(1);
        var headers = new Metadata { { RouterMetadata.Exclude, "n1/sim-n1" } };

        var refused = await Assert.ThrowsAsync<RpcException>(() => ReadAll(mesh.Nodes[0].Router.Chat(Ask("model-n1", "pose as a hop"), headers)));

        Assert.Equal(StatusCode.PermissionDenied, refused.StatusCode);
        Assert.StartsWith("llmrouter-exclude: only members of pool 'pool-a' forward requests to 'n1'", refused.Status.Detail);
    }

    [Fact]
    public async Task Chat_PathAtTheHopLimit_Refused()
    {
        await using var mesh = await TestMesh.StartAsync(1);
        var headers = new Metadata { { RouterMetadata.Path, "a,b,c,d" } };
        var asMember = new Router.RouterClient(mesh.Nodes[0].OpenChannel(presenting: "n1"));

        var refused = await Assert.ThrowsAsync<RpcException>(() => ReadAll(asMember.Chat(Ask("model-n1", "far"), headers)));

        Assert.Equal(StatusCode.FailedPrecondition, refused.StatusCode);
        Assert.StartsWith("hop limit:", refused.Status.Detail);
    }

    [Fact]
    public async Task Chat_ClientCancelsAForwardedStream_ThePeersBackendStops()
    {
        await using var mesh = await TestMesh.StartAsync(2, backends: node => TestMesh.Backend($"sim-{node}", $"model-{node}",
            simulated: "time_to_first_token: 0ms\ntokens_per_second: 20\ndefault_max_tokens: 1000"));
        var (n1, n2) = (mesh.Nodes[0], mesh.Nodes[1]);
        await n1.KnowsModelAsync("model-n2");
        using var cancel = new CancellationTokenSource();

        using var call = n1.Router.Chat(Ask("model-n2", "a long answer"), cancellationToken: cancel.Token);
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        cancel.Cancel();

        var counters = Counters(n2);
        await Eventually.WaitUntil(() => counters.ActiveGenerations == 0 && counters.CancelledGenerations == 1, "the peer's generation stops",
            () => $"active {counters.ActiveGenerations}, cancelled {counters.CancelledGenerations}, produced {counters.TokensProduced}");
        Assert.InRange(counters.TokensProduced, 1, 10);
        Assert.Equal(0, counters.TokensAfterCancellation);
    }

    [Fact]
    public async Task Chat_DeadlineRunsOutAtThePeer_DeadlineExceededAndThePeersBackendStops()
    {
        await using var mesh = await TestMesh.StartAsync(2, backends: node => TestMesh.Backend($"sim-{node}", $"model-{node}",
            simulated: "time_to_first_token: 0ms\ntokens_per_second: 20\ndefault_max_tokens: 1000"));
        var (n1, n2) = (mesh.Nodes[0], mesh.Nodes[1]);
        await n1.KnowsModelAsync("model-n2");

        // A first forward readies the path (n1's connection to n2, the code compiled): on a loaded machine the first
        // call alone could outlast a short deadline before n2's generation began, and there would be nothing to stop.
        await ReadAll(n1.Router.Chat(Ask("model-n2", "warm up", maxTokens: 1)));
        var refused = await Assert.ThrowsAsync<RpcException>(() =>
            ReadAll(n1.Router.Chat(Ask("model-n2", "too long"), deadline: TimeProvider.System.GetUtcNow().UtcDateTime.AddSeconds(1))));

        Assert.Equal(StatusCode.DeadlineExceeded, refused.StatusCode);
        var counters = Counters(n2);
        await Eventually.WaitUntil(() => counters.ActiveGenerations == 0 && counters.CancelledGenerations == 1, "the peer's generation stops",
            () => $"active {counters.ActiveGenerations}, cancelled {counters.CancelledGenerations}");
    }

    [Fact]
    public async Task Chat_BestCandidateFailsBeforeTheFirstToken_AnswerComesFromTheNextWithOneRoute()
    {
        // n2's copy of "shared" ranks first (higher quality) but always fails before its first token.
        await using var mesh = await TestMesh.StartAsync(3, backends: node => node switch
        {
            "n2" => TestMesh.Backend("sim-n2", "shared", quality: 0.9, simulated: "time_to_first_token: 0ms\ntokens_per_second: 0\nfailure_rate: 1"),
            "n3" => TestMesh.Backend("sim-n3", "shared", quality: 0.6),
            _ => TestMesh.DefaultBackend(node),
        });
        var n1 = mesh.Nodes[0];
        var request = Ask("shared", "which one answers?", maxTokens: 4);
        await n1.KnowsModelAsync("shared", copies: 2);
        await n1.RanksFirstAsync(request, "n2");

        var frames = await ReadAll(n1.Router.Chat(request));

        var routes = frames.Where(f => f.Route is not null).ToList();
        var route = Assert.Single(routes).Route;
        Assert.Equal(("n3", 2u), (route.ServingNode, route.Attempt));
        Assert.Equal(4, frames.Count(f => f.Delta is not null));
        Assert.Equal(1, mesh.Nodes[1].Catalog.Current.Backends[0].Simulation!.StartedGenerations);
    }

    [Fact]
    public async Task Chat_ProfileQualityOrCost_PicksTheModelThatProfileFavours()
    {
        await using var mesh = await TestMesh.StartAsync(2, backends: node => node == "n1"
            ? TestMesh.Backend("sim-n1", "small", quality: 0.4, aliases: "[any]", price: 0)
            : TestMesh.Backend("sim-n2", "large", quality: 0.95, aliases: "[any]", price: 10));
        var n1 = mesh.Nodes[0];
        await n1.KnowsModelAsync("large");

        var quality = Ask("any", "best answer", maxTokens: 2);
        quality.RoutingProfile = "quality";
        var cost = Ask("any", "cheapest answer", maxTokens: 2);
        cost.RoutingProfile = "cost";

        Assert.Equal("large", (await ReadAll(n1.Router.Chat(quality)))[0].Route.Model);
        Assert.Equal("small", (await ReadAll(n1.Router.Chat(cost)))[0].Route.Model);
    }

    [Fact]
    public async Task Chat_ModeLocal_NeverForwards()
    {
        await using var mesh = await TestMesh.StartAsync(2);
        var n1 = mesh.Nodes[0];
        await n1.KnowsModelAsync("model-n2");
        var request = Ask("model-n2", "stay here");
        request.Mode = RoutingMode.Local;

        var refused = await Assert.ThrowsAsync<RpcException>(() => ReadAll(n1.Router.Chat(request)));

        Assert.Equal(StatusCode.NotFound, refused.StatusCode);
    }
}

/// <summary>W3C trace context travels with a forwarded request.</summary>
public sealed class TraceContextTests
{
    [Fact]
    public async Task Chat_CallerSendsTraceparent_ServingNodeReportsTheSameTraceId()
    {
        await using var mesh = await TestMesh.StartAsync(2);
        var n1 = mesh.Nodes[0];
        await n1.KnowsModelAsync("model-n2");
        const string TraceId = "4bf92f3577b34da6a3ce929d0e0e4736";
        var headers = new Metadata { { "traceparent", $"00-{TraceId}-00f067aa0ba902b7-01" } };

        var frames = await ReadAll(n1.Router.Chat(Ask("model-n2", "trace me", maxTokens: 2), headers));

        Assert.Equal("n2", frames[0].Route.ServingNode);
        Assert.Equal(TraceId, frames[0].Route.TraceId);
    }
}

/// <summary>Embeddings reach the member that has the embedding model.</summary>
public sealed class EmbedForwardingTests
{
    [Fact]
    public async Task Embed_ModelOnlyOnAPeer_ForwardedWithThePath()
    {
        await using var mesh = await TestMesh.StartAsync(2, backends: node => node == "n2"
            ? TestMesh.DefaultBackend(node) + "\n" + EmbeddingBackend()
            : TestMesh.DefaultBackend(node));
        var n1 = mesh.Nodes[0];
        await n1.KnowsModelAsync("embedder");
        var request = new EmbedRequest { Model = "embedder" };
        request.Inputs.Add(["one", "two"]);

        var response = await n1.Router.EmbedAsync(request);

        Assert.Equal(2, response.Embeddings.Count);
        Assert.Equal(["n1", "n2"], response.Route.Path.Select(h => h.Node));
        Assert.Equal("n2", response.Route.ServingNode);
    }

    private static string EmbeddingBackend() => """
                  - id: embed-n2
                    kind: simulated
                    simulated:
                      time_to_first_token: 0ms
                    models:
                      - id: embedder
                        kind: embedding
                        dimensions: 8
        """;
}
