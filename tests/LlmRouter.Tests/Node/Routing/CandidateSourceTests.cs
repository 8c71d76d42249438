using LlmRouter.Common.Configuration;
using LlmRouter.Common.Gossip;
using LlmRouter.Node.Catalog;
using LlmRouter.Node.Forwarding;
using LlmRouter.Node.Resilience;
using LlmRouter.Node.Routing;
using LlmRouter.V1;

namespace LlmRouter.Tests.Node.Routing;

/// <summary>The candidates are built once per change of the membership view, and every change shows.</summary>
public sealed class CandidateSourceTests
{
    private static readonly CatalogSnapshot Snapshot = new(
        new MeshConfig("m", "mesh.yaml", "certs", ServerSettings.Default, RoutingSettings.Default, []),
        new NodeConfig("entry", "p", new Uri("https://entry:1"), []),
        [],
        Version: 1);

    private static readonly RouteQuery Shared = new("shared", ModelKindConfig.Chat, null, [], null, null);

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
        new CandidateScorer(TimeProvider.System, new Random(7).NextDouble), source, new ForwardedLoad(), new BackendBreakers(TimeProvider.System), TimeProvider.System);

    [Fact]
    public void Gather_ViewUnchanged_ServesTheSameCandidatesWithoutReadingTheMembers()
    {
        var view = new FakeMembershipView(Member("n1"), Member("n2"));
        var source = new CandidateSource(view);

        var first = source.Gather(Snapshot, includeRemote: true);
        var second = source.Gather(Snapshot, includeRemote: true);

        Assert.Same(first, second);
        Assert.Equal(1, view.Reads);
        Assert.Equal(["n1", "n2"], second.Select(c => c.Node));
    }

    [Fact]
    public void Gather_MemberPublishesNewModels_CandidatesRebuiltWithThem()
    {
        var view = new FakeMembershipView(Member("n1"));
        var source = new CandidateSource(view);
        source.Gather(Snapshot, includeRemote: true);

        view.Change(Member("n1", models: ["shared", "larger"]));

        Assert.Equal(["shared", "larger"], source.Gather(Snapshot, includeRemote: true).Select(c => c.Model));
    }

    [Fact]
    public void Rank_RequestsForwardedWhileTheViewIsUnchanged_CountAgainstTheCachedCandidateUntilDone()
    {
        var forwarded = new ForwardedLoad();
        var view = new FakeMembershipView(Member("n1"), Member("n2", inFlight: 1));
        var ranker = new RouteRanker(new CandidateScorer(TimeProvider.System, new Random(7).NextDouble), new CandidateSource(view, forwarded),
            forwarded, new BackendBreakers(TimeProvider.System), TimeProvider.System);
        Assert.Equal("n1", ranker.Rank(Snapshot, Shared)[0].Target.Node);

        var open = new[] { forwarded.Track("n1/b"), forwarded.Track("n1/b") };
        var whileOpen = ranker.Rank(Snapshot, Shared)[0].Target.Node;
        foreach (var handle in open)
        {
            handle.Dispose();
        }

        Assert.Equal("n2", whileOpen);
        Assert.Equal("n1", ranker.Rank(Snapshot, Shared)[0].Target.Node);
        Assert.Equal(1, view.Reads);
    }

    [Fact]
    public void Rank_PeerLoadChanges_NextRequestSeesTheNewLoad()
    {
        var view = new FakeMembershipView(Member("n1"), Member("n2", inFlight: 4));
        var ranker = Ranker(new CandidateSource(view));
        Assert.Equal("n1", ranker.Rank(Snapshot, Shared)[0].Target.Node);

        view.Change(Member("n1", inFlight: 4), Member("n2"));

        Assert.Equal(["n2", "n1"], ranker.Rank(Snapshot, Shared).Select(c => c.Target.Node));
        Assert.Equal(4u, ranker.Rank(Snapshot, Shared)[1].Target.Load?.InFlight);
    }

    [Fact]
    public void Gather_MemberDeclaredDead_ItsCandidatesDisappear()
    {
        var view = new FakeMembershipView(Member("n1"), Member("n2"));
        var source = new CandidateSource(view);
        source.Gather(Snapshot, includeRemote: true);

        view.Change(Member("n1"), Member("n2", MemberStatus.Dead));

        Assert.Equal(["n1"], source.Gather(Snapshot, includeRemote: true).Select(c => c.Node));
        Assert.Equal(["n2 (dead)"], source.UnreachableServers("shared"));
    }

    [Fact]
    public void Gather_LocalOnly_NeverReadsTheMembers()
    {
        var view = new FakeMembershipView(Member("n1"));

        Assert.Empty(new CandidateSource(view).Gather(Snapshot, includeRemote: false));
        Assert.Equal(0, view.Reads);
    }

    /// <summary>A membership whose version moves when the test changes it.</summary>
    private sealed class FakeMembershipView(params MemberView[] members) : IMembershipView
    {
        private IReadOnlyList<MemberView> _members = members;

        public bool Started => true;

        public long Version { get; private set; } = 1;

        public int Reads { get; private set; }

        public void Change(params MemberView[] members)
        {
            _members = members;
            Version++;
        }

        public (long Version, IReadOnlyList<MemberView> Members) Read()
        {
            Reads++;
            return (Version, _members);
        }
    }
}
