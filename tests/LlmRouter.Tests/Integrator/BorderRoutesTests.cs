using LlmRouter.Common.Gossip;
using LlmRouter.Integrator.Border;
using LlmRouter.V1;

namespace LlmRouter.Tests.Integrator;

public sealed class BorderRoutesTests
{
    private static readonly DateTimeOffset Now = DateTimeOffset.Parse("2026-11-23T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public void CopiesOfOneModelBehindTheBorder_BecomeOneRoute_WithBestCopySummedFreeAndLeastLoad()
    {
        var views = Views(("b", [
            Node("b1", "b", Model("qwen", "b1", quality: 0.8), Load("sim-b1", inFlight: 3, max: 4)),
            Node("b2", "b", Model("qwen", "b2", quality: 0.6), Load("sim-b2", inFlight: 1, max: 8)),
        ]));

        var route = Assert.Single(BorderRoutes.Into("i1", "a", views, [], Now));

        Assert.Equal("qwen", route.Model.Id);
        Assert.Equal(("i1", "a", ""), (route.Model.Node, route.Model.Pool, route.Model.Backend));
        Assert.Equal(0.8, route.Model.Quality);
        Assert.Equal(1u + 7u, route.FreeCapacity);
        Assert.Equal(0.125, route.LeastLoad);
        Assert.Equal(["b"], route.Pools);
    }

    [Fact]
    public void RoutesOfAnotherIntegrator_AreExtendedByThePool_AndNeverAdvertisedBackIntoAPoolOnTheirPath()
    {
        var farther = new ModelRoute { Model = Model("far-model", "c1"), FreeCapacity = 5, LeastLoad = 0.2 };
        farther.Pools.Add("c");
        var looping = new ModelRoute { Model = Model("a-model", "a1"), FreeCapacity = 5, LeastLoad = 0.2 };
        looping.Pools.Add("a");
        var views = Views(("b", [Integrator("i2", "b", farther, looping)]));

        var route = Assert.Single(BorderRoutes.Into("i1", "a", views, [], Now));

        Assert.Equal("far-model", route.Model.Id);
        Assert.Equal(["b", "c"], route.Pools);
        Assert.Equal(5u, route.FreeCapacity);
    }

    [Fact]
    public void ExportList_LimitsTheRoutesByIdOrAlias()
    {
        var views = Views(("b", [Node("b1", "b", Model("qwen", "b1", alias: "large"), null), Node("b2", "b", Model("llama", "b2"), null)]));

        var routes = BorderRoutes.Into("i1", "a", views, ["large"], Now);

        Assert.Equal("qwen", Assert.Single(routes).Model.Id);
    }

    [Fact]
    public void DeadMembers_CoolingBackends_AndThePoolItself_GiveNoRoutes()
    {
        var cooling = Load("sim-b2", inFlight: 0, max: 4);
        cooling.CooldownUntil = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(Now.AddSeconds(10));
        var views = Views(
            ("b", [Node("b1", "b", Model("qwen", "b1"), null, MemberStatus.Dead), Node("b2", "b", Model("llama", "b2"), cooling)]),
            ("a", [Node("a1", "a", Model("local-only", "a1"), null)]));

        Assert.Empty(BorderRoutes.Into("i1", "a", views, [], Now));
    }

    [Fact]
    public void CloudAndOnPremisesCopies_MakeSeparateRoutes_SoOnPremOnlyStillFindsOne()
    {
        var cloud = Model("gpt", "b1", quality: 0.9);
        cloud.Cloud = true;
        var views = Views(("b", [Node("b1", "b", cloud, null), Node("b2", "b", Model("gpt", "b2", quality: 0.6), null)]));

        var routes = BorderRoutes.Into("i1", "a", views, [], Now);

        Assert.Equal([(true, 0.9), (false, 0.6)], routes.Select(r => (r.Model.Cloud, r.Model.Quality)).OrderByDescending(r => r.Cloud));
    }

    [Fact]
    public void UnknownLoad_CountsAsHalfFullWithOneFreeSlot()
    {
        var views = Views(("b", [Node("b1", "b", Model("qwen", "b1"), null)]));

        var route = Assert.Single(BorderRoutes.Into("i1", "a", views, [], Now));

        Assert.Equal(1u, route.FreeCapacity);
        Assert.Equal(0.5, route.LeastLoad);
    }

    private static Dictionary<string, IReadOnlyList<MemberView>> Views(params (string Pool, MemberView[] Members)[] pools) =>
        pools.ToDictionary(p => p.Pool, p => (IReadOnlyList<MemberView>)p.Members);

    private static ModelInfo Model(string id, string node, double quality = 0.5, string? alias = null)
    {
        var model = new ModelInfo { Id = id, Node = node, Backend = $"sim-{node}", Kind = ModelKind.Chat, Quality = quality };
        if (alias is not null)
        {
            model.Aliases.Add(alias);
        }

        return model;
    }

    private static BackendLoad Load(string backend, uint inFlight, uint max) => new() { Backend = backend, InFlight = inFlight, MaxConcurrency = max };

    private static MemberView Node(string id, string pool, ModelInfo model, BackendLoad? load, MemberStatus status = MemberStatus.Alive)
    {
        var models = new ModelRecord { Member = id, Version = 1 };
        models.Models.Add(model);
        LoadRecord? loads = null;
        if (load is not null)
        {
            loads = new LoadRecord { Member = id };
            loads.Backends.Add(load);
        }

        return new MemberView(id, $"https://{id}:1", pool, MemberRole.Node, 1, status, TimeSpan.Zero, models, loads, IsSelf: false);
    }

    private static MemberView Integrator(string id, string pool, params ModelRoute[] routes)
    {
        var record = new RouteRecord { Member = id, Version = 1, TtlMs = 15000 };
        record.Routes.Add(routes);
        return new MemberView(id, $"https://{id}:1", pool, MemberRole.Integrator, 1, MemberStatus.Alive, TimeSpan.Zero, null, null, IsSelf: false) { Routes = record };
    }
}
