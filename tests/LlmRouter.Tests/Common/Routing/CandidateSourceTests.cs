using LlmRouter.Common.Configuration;
using LlmRouter.Common.Forwarding;
using LlmRouter.Common.Gossip;
using LlmRouter.Common.Membership;
using LlmRouter.Common.Pipeline;
using LlmRouter.Common.Resilience;
using LlmRouter.Common.Routing;
using LlmRouter.V1;

namespace LlmRouter.Tests.Common.Routing;

/// <summary>The candidates are built once per change of a pool's membership snapshot, and every change shows.</summary>
public sealed class CandidateSourceTests
{
    private static readonly HostSnapshot Snapshot = new(new MeshConfig("m", "mesh.yaml", "certs", ServerSettings.Default, RoutingSettings.Default, []), []);

    private static readonly RouteQuery Shared = new("shared", ModelKindConfig.Chat, null, [], null, null, "p");

    private static readonly RouteScope Mesh = RouteScope.Mesh;

    private static MemberView Member(string id, MemberStatus status = MemberStatus.Alive, uint inFlight = 0, params string[] models)
    {
        var record = new ModelRecord { Member = id, Version = 1 };
        record.Models.Add((models.Length > 0 ? models : ["shared"]).Select(model =>
            new ModelInfo { Id = model, Node = id, Pool = "p", Backend = "b", BackendKind = "simulated", Quality = 0.7, ContextTokens = 8192, Kind = ModelKind.Chat }));
        var load = new LoadRecord { Member = id, Sequence = 1, TtlMs = 5000 };
        load.Backends.Add(new BackendLoad { Backend = "b", InFlight = inFlight, MaxConcurrency = 4, TimeToFirstTokenMs = 100 });
        return new MemberView(id, $"https://{id}:1", "p", MemberRole.Node, 1, status, TimeSpan.Zero, record, load, IsSelf: false);
    }

    private static RouteRanker Ranker(CandidateSource source) => new(
        new CandidateScorer(TimeProvider.System, new Random(7).NextDouble), source, new ForwardedLoad(), new CopyBreakers(TimeProvider.System), TimeProvider.System);

    [Fact]
    public void Gather_SnapshotUnchanged_ServesTheSameCandidates()
    {
        var view = new FakePool(Member("n1"), Member("n2"));
        var source = new CandidateSource([view], new ForwardedLoad());

        var first = source.Gather(Snapshot, includeRemote: true);
        var second = source.Gather(Snapshot, includeRemote: true);

        Assert.Same(first, second);
        Assert.Equal(["n1", "n2"], second.Select(c => c.Node));
    }

    [Fact]
    public void Gather_MemberPublishesNewModels_CandidatesRebuiltWithThem()
    {
        var view = new FakePool(Member("n1"));
        var source = new CandidateSource([view], new ForwardedLoad());
        source.Gather(Snapshot, includeRemote: true);

        view.Change(Member("n1", models: ["shared", "larger"]));

        Assert.Equal(["shared", "larger"], source.Gather(Snapshot, includeRemote: true).Select(c => c.Model));
    }

    [Fact]
    public void Rank_RequestsForwardedWhileTheViewIsUnchanged_CountAgainstTheCachedCandidateUntilDone()
    {
        var forwarded = new ForwardedLoad();
        var view = new FakePool(Member("n1"), Member("n2", inFlight: 1));
        var ranker = new RouteRanker(new CandidateScorer(TimeProvider.System, new Random(7).NextDouble), new CandidateSource([view], forwarded),
            forwarded, new CopyBreakers(TimeProvider.System), TimeProvider.System);
        Assert.Equal("n1", ranker.Rank(Snapshot, Shared, Mesh)[0].Target.Node);

        var open = new[] { forwarded.Track("n1/b"), forwarded.Track("n1/b") };
        var whileOpen = ranker.Rank(Snapshot, Shared, Mesh)[0].Target.Node;
        foreach (var handle in open)
        {
            handle.Dispose();
        }

        Assert.Equal("n2", whileOpen);
        Assert.Equal("n1", ranker.Rank(Snapshot, Shared, Mesh)[0].Target.Node);
    }

    [Fact]
    public void Rank_PeerLoadChanges_NextRequestSeesTheNewLoad()
    {
        var view = new FakePool(Member("n1"), Member("n2", inFlight: 4));
        var ranker = Ranker(new CandidateSource([view], new ForwardedLoad()));
        Assert.Equal("n1", ranker.Rank(Snapshot, Shared, Mesh)[0].Target.Node);

        view.Change(Member("n1", inFlight: 4), Member("n2"));

        Assert.Equal(["n2", "n1"], ranker.Rank(Snapshot, Shared, Mesh).Select(c => c.Target.Node));
        Assert.Equal(4u, ranker.Rank(Snapshot, Shared, Mesh)[1].Target.Load?.InFlight);
    }

    [Fact]
    public void Gather_MemberDeclaredDead_ItsCandidatesDisappear()
    {
        var view = new FakePool(Member("n1"), Member("n2"));
        var source = new CandidateSource([view], new ForwardedLoad());
        source.Gather(Snapshot, includeRemote: true);

        view.Change(Member("n1"), Member("n2", MemberStatus.Dead));

        Assert.Equal(["n1"], source.Gather(Snapshot, includeRemote: true).Select(c => c.Node));
        Assert.Equal(["n2 (dead)"], source.UnreachableServers("shared"));
    }

    [Fact]
    public void Gather_LocalOnly_NeverReadsTheMembers()
    {
        var view = new FakePool(Member("n1"));

        Assert.Empty(new CandidateSource([view], new ForwardedLoad()).Gather(Snapshot, includeRemote: false));
        Assert.Equal(0, view.Reads);
    }

    [Fact]
    public void Gather_RouteOfAnIntegrator_IsACandidateThroughItKeyedByTheRoute()
    {
        var onward = new ModelRoute { Model = new ModelInfo { Id = "far", Node = "i1", Pool = "p", Kind = ModelKind.Chat }, FreeCapacity = 2 };
        onward.Pools.Add("q");
        var routes = new RouteRecord { Member = "i1", Version = 1, TtlMs = 15000, Routes = { onward } };
        var integrator = new MemberView("i1", "https://i1:1", "p", MemberRole.Integrator, 1, MemberStatus.Alive, TimeSpan.Zero, null, null, IsSelf: false) { Routes = routes };

        var candidates = new CandidateSource([new FakePool(integrator)], new ForwardedLoad()).Gather(Snapshot, includeRemote: true);

        var route = Assert.Single(candidates);
        Assert.Equal(("far", "i1", "p", "https://i1:1", "i1/route:far"), (route.Model, route.Node, route.Pool, route.Address, route.Key));
        Assert.Equal(["q"], route.ViaPools);
    }

    /// <summary>A pool whose snapshot the test replaces; counts how often its members are read.</summary>
    private sealed class FakePool(params MemberView[] members) : IPoolView
    {
        private MembershipSnapshot _snapshot = new(1, members);

        public string Name => "p";

        public int Reads { get; private set; }

        public MembershipSnapshot Snapshot
        {
            get
            {
                Reads++;
                return _snapshot;
            }
        }

        public void Change(params MemberView[] members) => _snapshot = new MembershipSnapshot(_snapshot.Version + 1, members);
    }
}
