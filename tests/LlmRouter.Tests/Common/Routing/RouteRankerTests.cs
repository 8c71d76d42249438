using Grpc.Core;
using LlmRouter.Common.Configuration;
using LlmRouter.Common.Forwarding;
using LlmRouter.Common.Resilience;
using LlmRouter.Common.Routing;
using LlmRouter.V1;

namespace LlmRouter.Tests.Common.Routing;

/// <summary>Ranking over remote candidates: filters, policy, no herd.</summary>
public sealed class RouteRankerTests
{
    private static RouteRanker Ranker(int seed = 7) => new(
        new CandidateScorer(TimeProvider.System, new Random(seed).NextDouble),
        source: null!,
        new ForwardedLoad(),
        new CopyBreakers(TimeProvider.System),
        TimeProvider.System);

    private static RouteCandidate Remote(string node, double quality = 0.7, bool cloud = false, uint inFlight = 0, bool suspect = false) => RouteCandidate.FromRemote(
        new ModelInfo { Id = "shared", Node = node, Pool = "p", Backend = "b", BackendKind = cloud ? "openai" : "simulated", Cloud = cloud, Quality = quality, ContextTokens = 8192, Kind = ModelKind.Chat },
        $"https://{node}:1",
        new BackendLoad { Backend = "b", InFlight = inFlight, MaxConcurrency = 4, TimeToFirstTokenMs = 100 },
        suspect);

    private static RouteQuery Query(params string[] labels) => new("shared", ModelKindConfig.Chat, null, labels, null, null, "p");

    [Fact]
    public void Rank_SeveralEquallyGoodPeers_TwoChoicesSpreadTheFirstPickButNeverPickTheWorse()
    {
        var ranker = Ranker();
        var candidates = Enumerable.Range(1, 5).Select(i => Remote($"n{i}")).Append(Remote("slow", quality: 0.1)).ToList();

        var firsts = Enumerable.Range(0, 200).Select(_ => ranker.Rank(candidates, RoutingSettings.Default, Query())[0].Target.Node).ToList();

        Assert.Equal(["n1", "n2", "n3", "n4", "n5"], firsts.Distinct().Order());
    }

    [Fact]
    public void Rank_SuspectMember_TriedOnlyWhenNoAliveOneServes()
    {
        var ranker = Ranker();

        var withAlive = ranker.Rank([Remote("suspect", quality: 0.9, suspect: true), Remote("alive", quality: 0.3)], RoutingSettings.Default, Query());
        var onlySuspect = ranker.Rank([Remote("suspect", suspect: true)], RoutingSettings.Default, Query());

        Assert.Equal(["alive"], withAlive.Select(r => r.Target.Node));
        Assert.Equal(["suspect"], onlySuspect.Select(r => r.Target.Node));
    }

    [Fact]
    public void Rank_BusyPeer_RanksBelowAnIdleOne()
    {
        var ranked = Ranker().Rank([Remote("busy", inFlight: 4), Remote("idle")], RoutingSettings.Default, Query());

        Assert.Equal(["idle", "busy"], ranked.Select(r => r.Target.Node));
    }

    [Fact]
    public void Rank_ManyCandidates_ReturnsTheBestSixteenBestFirst()
    {
        // Ranked on quality alone, 0.025 .. 1.0: far enough apart that two-choices never reorders them.
        var candidates = Enumerable.Range(1, 40).Select(i => Remote($"n{i:00}", quality: i / 40.0)).ToList();
        var qualityOnly = new ScoreWeights { Quality = 1, Price = 0, Latency = 0, Load = 0, Warm = 0, Locality = 0 };

        var ranked = Ranker().Rank(candidates, RoutingSettings.Default, Query() with { Overrides = qualityOnly });

        Assert.Equal(Enumerable.Range(25, 16).Reverse().Select(i => $"n{i:00}"), ranked.Select(r => r.Target.Node));
    }

    [Fact]
    public void Rank_OnPremOnlyAndEveryCandidateInTheCloud_FailedPreconditionNamingTheLabel()
    {
        var refused = Assert.Throws<RpcException>(() => Ranker().Rank([Remote("cloudy", cloud: true)], RoutingSettings.Default, Query("on-prem-only")));

        Assert.Equal(StatusCode.FailedPrecondition, refused.StatusCode);
        Assert.Equal("policy_labels: 'on-prem-only' forbids every backend that serves 'shared'", refused.Status.Detail);
    }

    private static RouteCandidate Route(string integrator, double quality = 0.7)
    {
        var route = new ModelRoute
        {
            Model = new ModelInfo { Id = "shared", Node = integrator, Pool = "p", BackendKind = "simulated", Quality = quality, ContextTokens = 8192, Kind = ModelKind.Chat },
            FreeCapacity = 4,
        };
        route.Pools.Add("pool-b");
        return RouteCandidate.FromRoute(route, integrator, "p", $"https://{integrator}:1");
    }

    [Fact]
    public void Rank_SameModelInThePoolAndBehindAnIntegrator_PrefersThePoolMember()
    {
        var ranked = Ranker().Rank([Route("i1"), Remote("n2")], RoutingSettings.Default, Query());

        Assert.Equal(["n2", "i1"], ranked.Select(r => r.Target.Node));
        Assert.Equal(("", "i1/route:shared"), (ranked[1].Target.Backend, ranked[1].Target.Key));
    }

    [Fact]
    public void Rank_SubnetOnly_NeverTakesARouteAcrossABorder()
    {
        var refused = Assert.Throws<RpcException>(() => Ranker().Rank([Route("i1", quality: 0.99)], RoutingSettings.Default, Query("subnet-only")));

        Assert.Equal(StatusCode.FailedPrecondition, refused.StatusCode);
        Assert.Contains("'subnet-only'", refused.Status.Detail);
        Assert.Equal(["n2"], Ranker().Rank([Route("i1", quality: 0.99), Remote("n2")], RoutingSettings.Default, Query("subnet-only")).Select(r => r.Target.Node));
    }

    [Fact]
    public void Rank_OnPremOnly_SkipsTheCloudCopy()
    {
        var ranked = Ranker().Rank([Remote("cloudy", quality: 0.99, cloud: true), Remote("onprem", quality: 0.5)], RoutingSettings.Default, Query("on-prem-only"));

        Assert.Equal(["onprem"], ranked.Select(r => r.Target.Node));
    }

    [Fact]
    public void Rank_TwoLabelsAndTheSecondForbidsWhatTheFirstLeft_FailedPreconditionNamingTheSecond()
    {
        var refused = Assert.Throws<RpcException>(() => Ranker().Rank([Route("i1"), Remote("cloudy", cloud: true)], RoutingSettings.Default, Query("subnet-only", "on-prem-only")));

        Assert.Equal(StatusCode.FailedPrecondition, refused.StatusCode);
        Assert.Equal("policy_labels: 'on-prem-only' forbids every backend that serves 'shared'", refused.Status.Detail);
    }

    [Fact]
    public void Rank_UnknownModel_NotFoundListingTheModelsInReach()
    {
        var query = new RouteQuery("missing", ModelKindConfig.Chat, null, [], null, null, "p");

        var refused = Assert.Throws<RpcException>(() => Ranker().Rank([Remote("n1"), Remote("n2")], RoutingSettings.Default, query));

        Assert.Equal(StatusCode.NotFound, refused.StatusCode);
        Assert.Equal("model: no node in reach serves 'missing' (models here: shared; ListModels lists them)", refused.Status.Detail);
    }

    [Fact]
    public void Rank_RequirementsNoneMeets_NotFoundNamingTheRequirements()
    {
        var requirements = new ModelRequirements { MinContextTokens = 100_000, Features = { "vision" } };
        var query = new RouteQuery("shared", ModelKindConfig.Chat, requirements, [], null, null, "p");

        var refused = Assert.Throws<RpcException>(() => Ranker().Rank([Remote("n1")], RoutingSettings.Default, query));

        Assert.Equal(StatusCode.NotFound, refused.StatusCode);
        Assert.Equal("requirements: no model named 'shared' meets min_context_tokens 100000, features [vision]", refused.Status.Detail);
    }

    [Fact]
    public void Rank_BetterPeerCoolingDown_RankedOnlyWhenNothingElseCanServe()
    {
        var cooling = Remote("cooling", quality: 0.99);
        cooling.Load!.CooldownUntil = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(TimeProvider.System.GetUtcNow().AddMinutes(1));

        Assert.Equal(["other"], Ranker().Rank([cooling, Remote("other", quality: 0.5)], RoutingSettings.Default, Query()).Select(r => r.Target.Node));
        Assert.Equal(["cooling"], Ranker().Rank([cooling], RoutingSettings.Default, Query()).Select(r => r.Target.Node));
    }

    [Fact]
    public void Rank_EqualScores_KeepTheCandidatesOrder()
    {
        var ranker = new RouteRanker(new CandidateScorer(TimeProvider.System, () => 0), null!, new ForwardedLoad(), new CopyBreakers(TimeProvider.System), TimeProvider.System);

        var ranked = ranker.Rank([Remote("a", quality: 0.1), Remote("b"), Remote("c", quality: 0.1)], RoutingSettings.Default, Query());

        Assert.Equal(["b", "a", "c"], ranked.Select(r => r.Target.Node));
    }

    [Fact]
    public void Rank_SubnetOnlyAtAHopInAnotherPool_ForbidsEveryMemberOutsideThatPool()
    {
        // As an integrator of pools p and q sees a request that arrived from q: the member of p leaves q.
        var query = Query("subnet-only") with { Pool = "q" };

        var refused = Assert.Throws<RpcException>(() => Ranker().Rank([Remote("n1")], RoutingSettings.Default, query));

        Assert.Equal(StatusCode.FailedPrecondition, refused.StatusCode);
        Assert.Equal("policy_labels: 'subnet-only' forbids every backend that serves 'shared'", refused.Status.Detail);
    }

    [Fact]
    public void Rank_BorderFilters_NeverBackIntoTheArrivalPoolAndOnlyWhatIsExported()
    {
        var inArrival = Remote("a1");
        var behind = RouteCandidate.FromRemote(new ModelInfo { Id = "shared", Node = "b1", Pool = "b", Backend = "b", Kind = ModelKind.Chat, Quality = 0.1 }, "https://b1:1", null);
        ICandidateFilter[] border = [new NotBackInto("p", "i1"), new ExportedOnly(["shared"], "i1")];

        var ranked = Ranker().Rank([inArrival, behind], RoutingSettings.Default, Query(), border);
        var onlyArrival = Assert.Throws<RpcException>(() => Ranker().Rank([inArrival], RoutingSettings.Default, Query(), border));
        var notExported = Assert.Throws<RpcException>(() => Ranker().Rank([behind], RoutingSettings.Default, Query(), [new ExportedOnly(["other"], "i1")]));

        Assert.Equal(["b1"], ranked.Select(r => r.Target.Node));
        Assert.Equal((StatusCode.Unavailable, "model: no member behind integrator 'i1' serves 'shared' now (only pool 'p', which the request came from, has it)"),
            (onlyArrival.StatusCode, onlyArrival.Status.Detail));
        Assert.Equal((StatusCode.Unavailable, "model: integrator 'i1' does not export 'shared' (export: other)"), (notExported.StatusCode, notExported.Status.Detail));
    }

    [Fact]
    public void Rank_CopiesThatFailedBeforeForThisRequest_AreNotTriedAgain()
    {
        var ranked = Ranker().Rank([Remote("n1", quality: 0.99), Remote("n2")], RoutingSettings.Default, Query(), [new NotFailedBefore(["n1/b"])]);
        var none = Assert.Throws<RpcException>(() => Ranker().Rank([Remote("n1")], RoutingSettings.Default, Query(), [new NotFailedBefore(["n1/b"])]));

        Assert.Equal(["n2"], ranked.Select(r => r.Target.Node));
        Assert.Equal((StatusCode.Unavailable, "model: every copy of 'shared' in reach already failed for this request (n1/b)"), (none.StatusCode, none.Status.Detail));
    }
}
