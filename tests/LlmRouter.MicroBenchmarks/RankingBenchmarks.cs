using BenchmarkDotNet.Attributes;
using LlmRouter.Common.Configuration;
using LlmRouter.Common.Forwarding;
using LlmRouter.Common.Gossip;
using LlmRouter.Common.Membership;
using LlmRouter.Common.Pipeline;
using LlmRouter.Common.Resilience;
using LlmRouter.Common.Routing;

namespace LlmRouter.MicroBenchmarks;

/// <summary>
/// Routing one chat request ("auto", the balanced profile) over N remote candidates (N / 4 members with
/// four models each, all with load records): the path a request takes through <see cref="RouteRanker"/>
/// and <see cref="CandidateSource"/>, the same right after the membership snapshot changed (the candidates are
/// rebuilt first), and the scorer alone. Target: 1000 candidates under 50 us, allocation flat in N but for
/// the returned array of (candidate, score) pairs (16 bytes each).
/// </summary>
[MemoryDiagnoser]
public class RankingBenchmarks
{
    private readonly RouteQuery _query = new(RouteQuery.Auto, ModelKindConfig.Chat, null, [], null, null, "pool-a");
    private RouteRanker _ranker = null!;
    private CandidateScorer _scorer = null!;
    private FixedPool _view = null!;
    private HostSnapshot _snapshot = null!;
    private IReadOnlyList<RouteCandidate> _candidates = null!;
    private ScoreWeightSet _weights = null!;

    [Params(100, 1000)]
    public int Candidates { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var time = TimeProvider.System;
        _view = new FixedPool(RankingFixture.Members(Candidates));
        // As every host wires it (RouterHosting).
        _scorer = new CandidateScorer(time, new Random(1).NextDouble);
        var forwarded = new ForwardedLoad();
        var source = new CandidateSource([_view], forwarded);
        _ranker = new RouteRanker(_scorer, source, forwarded, new CopyBreakers(time), time);
        _snapshot = RankingFixture.Snapshot();
        _candidates = source.Gather(_snapshot, includeRemote: true);
        _weights = _snapshot.Routing.Profiles[_snapshot.Routing.DefaultProfile];
        if (_candidates.Count != Candidates)
        {
            throw new InvalidOperationException($"expected {Candidates} candidates, gathered {_candidates.Count}");
        }
    }

    /// <summary>A request: gather (cached), filter, score, sort, two choices.</summary>
    [Benchmark(Baseline = true)]
    public int RankRequest() => _ranker.Rank(_snapshot, _query, RouteScope.Mesh).Count;

    /// <summary>A request right after a membership change: the candidates are rebuilt from the members first.</summary>
    [Benchmark]
    public int RankAfterViewChange()
    {
        _view.Change();
        return _ranker.Rank(_snapshot, _query, RouteScope.Mesh).Count;
    }

    /// <summary>The scorer alone over every candidate.</summary>
    [Benchmark]
    public double ScoreOnly()
    {
        var total = 0.0;
        for (var i = 0; i < _candidates.Count; i++)
        {
            total += _scorer.Score(_candidates[i], _weights, highestPrice: 1.0, forwarded: 0);
        }

        return total;
    }

    /// <summary>A pool whose snapshot changes only when the benchmark says so.</summary>
    private sealed class FixedPool(IReadOnlyList<MemberView> members) : IPoolView
    {
        public string Name => "pool-a";

        public MembershipSnapshot Snapshot { get; private set; } = new(1, members);

        // As SwimMembership does on a change, the new snapshot is a fresh copy of every member.
        public void Change() => Snapshot = new MembershipSnapshot(Snapshot.Version + 1, members.Select(m => m with { }).ToList());
    }
}
