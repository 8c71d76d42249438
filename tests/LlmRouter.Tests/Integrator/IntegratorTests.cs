using Grpc.Core;
using LlmRouter.Common.Identity;
using LlmRouter.Tests.Infrastructure;
using LlmRouter.Tests.Node;
using LlmRouter.V1;

namespace LlmRouter.Tests.Integrator;

/// <summary>Integrators on loopback: real in-process nodes and integrators with mutual TLS, pools joined only through integrators.</summary>
public sealed class IntegratorTests
{
    [Fact]
    public async Task Chain_ARequestEnteringA_IsServedInC_ThroughTwoIntegrators()
    {
        await using var mesh = await BorderMesh.StartAsync(
            [("a", [("a1", "m-a")]), ("b", [("b1", "m-b")]), ("c", [("c1", "m-c")])],
            [("i1", ["a", "b"], []), ("i2", ["b", "c"], [])]);
        await mesh.RouteKnownAsync("a1", "m-c", "i1");

        const string traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
        var headers = new Metadata { { "traceparent", $"00-{traceId}-00f067aa0ba902b7-01" } };
        var frames = await ChatRequests.ReadAll(mesh.Nodes["a1"].Router.Chat(ChatRequests.Ask("m-c", "across two borders", maxTokens: 8), headers));

        var route = frames.Single(f => f.Route is not null).Route;
        Assert.Equal(traceId, route.TraceId);
        Assert.Equal(["a1", "i1", "i2", "c1"], route.Path.Select(h => h.Node));
        Assert.Equal(["a", "a", "b", "c"], route.Path.Select(h => h.Pool));
        Assert.Equal("c1", route.ServingNode);
        Assert.NotEmpty(ChatRequests.Text(frames));
        var completed = frames.Single(f => f.Completed is not null).Completed;
        Assert.Equal(["c1", "i2", "i1", "a1"], completed.Hops.Select(h => h.Node));
        var advertised = (await mesh.Nodes["a1"].Admin.ListMeshModelsAsync(new ListMeshModelsRequest())).Routes.Single(r => r.Route.Model.Id == "m-c");
        Assert.Equal(["b", "c"], advertised.Route.Pools);
    }

    [Fact]
    public async Task TwoIntegratorsOnOneBorder_ShareTheTraffic_AndOneCarriesItAloneWhenTheOtherDies()
    {
        await using var mesh = await BorderMesh.StartAsync(
            [("a", [("a1", "m-a")]), ("b", [("b1", "m-b"), ("b2", "m-b")])],
            [("i1", ["a", "b"], []), ("i2", ["a", "b"], [])],
            simulated: "time_to_first_token: 50ms\ntokens_per_second: 200");
        await mesh.RouteKnownAsync("a1", "m-b", "i1", "i2");
        var router = mesh.Nodes["a1"].Router;

        // Concurrent requests: each one open through an integrator counts against it, so a burst spreads.
        var answers = await Task.WhenAll(Enumerable.Range(0, 16).Select(i =>
            ChatRequests.ReadAll(router.Chat(ChatRequests.Ask("m-b", $"request {i}", maxTokens: 4)))));
        var carriers = answers.Select(frames => frames.Single(f => f.Route is not null).Route.Path[1].Node).ToList();

        Assert.Contains("i1", carriers);
        Assert.Contains("i2", carriers);

        await mesh.KillIntegratorAsync("i1");
        for (var i = 0; i < 8; i++)
        {
            var frames = await ChatRequests.ReadAll(router.Chat(ChatRequests.Ask("m-b", $"after the kill {i}", maxTokens: 4)));
            var route = frames.Single(f => f.Route is not null).Route;
            Assert.Equal("i2", route.Path[1].Node);
            Assert.NotEmpty(ChatRequests.Text(frames));
        }
    }

    [Fact]
    public async Task ExportList_CarriesOnlyTheModelsItNames()
    {
        await using var mesh = await BorderMesh.StartAsync(
            [("a", [("a1", "m-a")]), ("b", [("b1", "m-exported"), ("b2", "m-kept")])],
            [("i1", ["a", "b"], ["m-exported"])]);
        await mesh.RouteKnownAsync("a1", "m-exported", "i1");

        var served = await ChatRequests.ReadAll(mesh.Nodes["a1"].Router.Chat(ChatRequests.Ask("m-exported", "hello", maxTokens: 4)));
        var refused = await Assert.ThrowsAsync<RpcException>(() => ChatRequests.ReadAll(mesh.Nodes["a1"].Router.Chat(ChatRequests.Ask("m-kept", "hello"))));

        Assert.Equal("b1", served.Single(f => f.Route is not null).Route.ServingNode);
        Assert.Equal(StatusCode.NotFound, refused.StatusCode);
        Assert.DoesNotContain((await mesh.Nodes["a1"].Admin.ListMeshModelsAsync(new ListMeshModelsRequest())).Routes, r => r.Route.Model.Id == "m-kept");
    }

    [Fact]
    public async Task SubnetOnly_NeverCrossesTheBorder_AndOnlyMembersMayHandRequestsToAnIntegrator()
    {
        await using var mesh = await BorderMesh.StartAsync(
            [("a", [("a1", "m-a")]), ("b", [("b1", "m-b")])],
            [("i1", ["a", "b"], [])]);
        await mesh.RouteKnownAsync("a1", "m-b", "i1");
        var request = ChatRequests.Ask("m-b", "stay home");
        request.PolicyLabels.Add("subnet-only");

        var refused = await Assert.ThrowsAsync<RpcException>(() => ChatRequests.ReadAll(mesh.Nodes["a1"].Router.Chat(request)));

        Assert.Equal(StatusCode.FailedPrecondition, refused.StatusCode);
        Assert.Contains("subnet-only", refused.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(0, mesh.Nodes["b1"].Catalog.Current.Backends.Single().Stats.LastServedTimestamp);

        // The integrator refuses it too, should a node hand it one anyway; and it carries nothing for clients.
        var store = new CertificateStore(mesh.Mesh.CertificatesDirectory);
        var address = mesh.Mesh.FindIntegrator("i1")!.Pools.Single(p => p.Pool == "a").Listen;
        using var asNode = MeshChannels.Create(address, store.LoadCertificate(CertificateStore.CaName), store.LoadWithKey("a1"));
        var direct = await Assert.ThrowsAsync<RpcException>(() => ChatRequests.ReadAll(new Router.RouterClient(asNode).Chat(request)));
        Assert.Equal(StatusCode.FailedPrecondition, direct.StatusCode);
        using var asClient = MeshChannels.Create(address, store.LoadCertificate(CertificateStore.CaName), store.LoadWithKey(CertificateStore.ClientName));
        var client = await Assert.ThrowsAsync<RpcException>(() => ChatRequests.ReadAll(new Router.RouterClient(asClient).Chat(ChatRequests.Ask("m-b", "hi"))));
        Assert.Equal(StatusCode.PermissionDenied, client.StatusCode);
        Assert.Equal(0, mesh.Nodes["b1"].Catalog.Current.Backends.Single().Stats.LastServedTimestamp);
    }
}
