using System.Buffers;
using LlmRouter.Common.Protocol;
using Grpc.Core;
using LlmRouter.Common.Configuration;
using LlmRouter.Common.Forwarding;
using LlmRouter.Common.Pipeline;
using LlmRouter.Common.Resilience;

namespace LlmRouter.Common.Routing;

/// <summary>A candidate with its score.</summary>
internal readonly record struct ScoredCandidate(RouteCandidate Target, double Score);

/// <summary>A candidate that passed the filters, and whether it is cooling down.</summary>
internal readonly record struct Eligible(RouteCandidate Candidate, bool CoolingDown);

/// <summary>
/// The routing decision of DESIGN.md section 6, the same on nodes and integrators: filter the candidates
/// in reach by model, requirements, policy and the scope's filters (border rules, the request's path and
/// the copies that already failed for it), then rank them by score. Each way of finding nothing gets its
/// own status (NOT_FOUND, FAILED_PRECONDITION, UNAVAILABLE) naming the reason.
/// </summary>
/// <param name="metrics">Where a ranking's exclusions are counted by reason; null in tests and benchmarks that rank alone.</param>
internal sealed class RouteRanker(CandidateScorer scorer, CandidateSource source, ForwardedLoad forwarded, CopyBreakers breakers, TimeProvider time, Telemetry.RouterMetrics? metrics = null)
{
    // Scores this close to the best (on the 0..1 scale) count as equally good.
    private const double NearBest = 0.02;

    // A request tries at most 3 candidates and a broadcast races as many (AttemptBudget): the best 16
    // are all anyone reads, so what a ranking returns does not grow with the mesh.
    public const int MaxRanked = 16;

    /// <param name="scope">Only this host's backends (mode local, or a request forwarded to a node), or the pools too, under filters.</param>
    public IReadOnlyList<ScoredCandidate> Rank(HostSnapshot snapshot, RouteQuery query, RouteScope scope)
    {
        try
        {
            return Rank(source.Gather(snapshot, includeRemote: !scope.LocalOnly), snapshot.Routing, query, scope.Filters);
        }
        catch (RpcException ex) when (ex.StatusCode == StatusCode.NotFound && !scope.LocalOnly && !query.IsAuto
            && source.UnreachableServers(query.Model) is { Count: > 0 } unreachable)
        {
            // The mesh has the model, but only on members out of reach: a route problem, not a wrong name.
            throw new RpcException(new Status(StatusCode.Unavailable,
                $"model '{query.Model}' is served only by members out of reach: {string.Join(", ", unreachable)}; retry later"));
        }
    }

    /// <summary>
    /// Filters and scores in one pass over the candidates, into pooled buffers, and returns the best
    /// <see cref="MaxRanked"/>, best first: nothing allocated grows with the number of candidates.
    /// </summary>
    public IReadOnlyList<ScoredCandidate> Rank(
        IReadOnlyList<RouteCandidate> candidates, RoutingSettings routing, RouteQuery query, IReadOnlyList<ICandidateFilter>? filters = null)
    {
        filters ??= [];
        var weights = ProfileWeights(routing, query);
        var labels = query.PolicyLabels.Count == 0 ? query.PolicyLabels : query.PolicyLabels.Distinct(StringComparer.Ordinal).ToList();
        var now = time.GetUtcNow();
        // Asked once per request: breakers are rarely open, and then only they need a lookup per candidate.
        var breakersCooling = breakers.AnyCoolingDown(now);
        var auto = query.IsAuto;
        var eligible = ArrayPool<Eligible>.Shared.Rent(Math.Max(1, candidates.Count));
        try
        {
            // The filters apply in order (name, the features the request needs, requirements, each policy
            // label, the scope's filters); the first that leaves nothing names the refusal. The strictest
            // label (or scope filter) is the one after which no candidate was left.
            var needs = query.Needs ?? [];
            int named = 0, featured = 0, capable = 0, permitted = 0, allowed = 0, cooling = 0, strictestLabel = -1, strictestFilter = -1;
            for (var i = 0; i < candidates.Count; i++)
            {
                var candidate = candidates[i];
                if (candidate.Kind != query.Kind || (!auto && !candidate.Answers(query.Model)))
                {
                    continue;
                }

                named++;
                if (!Has(candidate, needs))
                {
                    continue;
                }

                featured++;
                if (!Meets(candidate, query.Requirements))
                {
                    continue;
                }

                capable++;
                if (ForbiddingLabel(labels, candidate, query.Pool) is var forbidding and >= 0)
                {
                    strictestLabel = Math.Max(strictestLabel, forbidding);
                    continue;
                }

                permitted++;
                if (ExcludingFilter(filters, candidate) is var excluding and >= 0)
                {
                    strictestFilter = Math.Max(strictestFilter, excluding);
                    continue;
                }

                var coolingDown = CoolingDown(candidate, now, breakersCooling);
                cooling += coolingDown ? 1 : 0;
                eligible[allowed++] = new Eligible(candidate, coolingDown);
            }

            if (metrics is not null)
            {
                metrics.Excluded("features", named - featured);
                metrics.Excluded("requirements", featured - capable);
                metrics.Excluded("policy_label", capable - permitted);
                metrics.Excluded("scope", permitted - allowed);
                // Copies cooling down are left out only while another can serve.
                metrics.Excluded("cooling", cooling < allowed ? cooling : 0);
            }

            if (named == 0)
            {
                throw NotServed(candidates, query);
            }

            if (featured == 0)
            {
                throw LacksFeatures(candidates, query, needs);
            }

            if (capable == 0)
            {
                throw new RpcException(new Status(StatusCode.NotFound,
                    $"requirements: no model named '{query.Model}' meets {Describe(query.Requirements!)}"));
            }

            if (permitted == 0)
            {
                throw new RpcException(new Status(StatusCode.FailedPrecondition,
                    $"policy_labels: '{labels[strictestLabel]}' forbids every backend that serves '{query.Model}'"));
            }

            if (allowed == 0)
            {
                throw new RpcException(new Status(filters[strictestFilter].RefusalStatus, filters[strictestFilter].Refusal(query.Model)));
            }

            // Backends cooling down (here, or as their own node gossips) are skipped while any other can serve.
            var count = cooling < allowed ? KeepWarm(eligible, allowed) : allowed;
            return TwoChoices(Scored(eligible.AsSpan(0, count), weights));
        }
        finally
        {
            ArrayPool<Eligible>.Shared.Return(eligible, clearArray: true);
        }
    }

    /// <summary>Scores the candidates and orders them best first; equal scores keep the candidates' order.</summary>
    private ScoredCandidate[] Scored(ReadOnlySpan<Eligible> eligible, ScoreWeightSet weights)
    {
        var highestPrice = 0.0;
        foreach (var entry in eligible)
        {
            highestPrice = Math.Max(highestPrice, CandidateScorer.BlendedPrice(entry.Candidate));
        }

        // Only the best MaxRanked are kept, in a small sorted buffer, instead of sorting every candidate:
        // most scores do not beat the last kept one and cost a single comparison.
        Span<double> bestScores = stackalloc double[MaxRanked];
        Span<int> bestIndexes = stackalloc int[MaxRanked];
        var kept = 0;
        for (var i = 0; i < eligible.Length; i++)
        {
            var candidate = eligible[i].Candidate;
            var score = scorer.Score(candidate, weights, highestPrice, Forwarded(candidate));
            if (kept == MaxRanked && score <= bestScores[kept - 1])
            {
                continue;
            }

            // After every kept score at least as good: equal scores keep the candidates' order.
            var at = kept < MaxRanked ? kept : MaxRanked - 1;
            while (at > 0 && bestScores[at - 1] < score)
            {
                bestScores[at] = bestScores[at - 1];
                bestIndexes[at] = bestIndexes[at - 1];
                at--;
            }

            bestScores[at] = score;
            bestIndexes[at] = i;
            kept = Math.Min(kept + 1, MaxRanked);
        }

        var ranked = new ScoredCandidate[kept];
        for (var i = 0; i < kept; i++)
        {
            ranked[i] = new ScoredCandidate(eligible[bestIndexes[i]].Candidate, bestScores[i]);
        }

        return ranked;
    }

    /// <summary>Moves the candidates not cooling down to the front, in order; returns how many there are.</summary>
    private static int KeepWarm(Eligible[] eligible, int count)
    {
        var warm = 0;
        for (var i = 0; i < count; i++)
        {
            if (!eligible[i].CoolingDown)
            {
                eligible[warm++] = eligible[i];
            }
        }

        return warm;
    }

    // A suspect member's copy waits behind the others as a cooling one does (MemberReach).
    private bool CoolingDown(RouteCandidate candidate, DateTimeOffset now, bool breakersCooling) =>
        candidate.Suspect || (breakersCooling && breakers.CooldownUntil(candidate.Key, now) is not null) || candidate.Load?.CooldownUntil?.ToDateTimeOffset() > now;

    /// <summary>Requests this node has forwarded to the candidate's backend and not yet finished (none for its own).</summary>
    private int Forwarded(RouteCandidate candidate) =>
        candidate.IsLocal ? 0 : candidate.Forwarded?.Value ?? forwarded.Open(candidate.Key);

    /// <summary>The NOT_FOUND for a name nothing in reach answers to, listing the models of the kind asked for.</summary>
    private static RpcException NotServed(IReadOnlyList<RouteCandidate> candidates, RouteQuery query)
    {
        var known = string.Join(", ", candidates.Where(m => m.Kind == query.Kind).Select(m => m.Model).Distinct().Order(StringComparer.Ordinal));
        return new RpcException(new Status(StatusCode.NotFound,
            $"model: no node in reach serves '{query.Model}' (models here: {(known.Length > 0 ? known : "none")}; ListModels lists them)"));
    }

    /// <summary>
    /// Power of two choices among the near-best: when several candidates score within a hair of the best,
    /// two of them are drawn at random and the better goes first. Entry nodes that all see the same idle
    /// peer then spread their requests instead of piling onto it until its next load record arrives.
    /// </summary>
    private ScoredCandidate[] TwoChoices(ScoredCandidate[] ranked)
    {
        var near = 0;
        while (near < ranked.Length && ranked[0].Score - ranked[near].Score <= NearBest)
        {
            near++;
        }

        if (near < 3)
        {
            return ranked;
        }

        var first = (int)(scorer.NextRandom() * near);
        var second = (first + 1 + (int)(scorer.NextRandom() * (near - 1))) % near;
        var chosen = Math.Min(first, second);
        var winner = ranked[chosen];
        Array.Copy(ranked, 0, ranked, 1, chosen);
        ranked[0] = winner;
        return ranked;
    }

    /// <summary>Every candidate with the reason it is excluded or its score terms, for the Admin Explain call.</summary>
    public V1.ExplainResponse Explain(HostSnapshot snapshot, RouteQuery query, RouteScope scope)
    {
        var response = new V1.ExplainResponse { Profile = string.IsNullOrEmpty(query.Profile) ? snapshot.Routing.DefaultProfile : query.Profile };
        var candidates = source.Gather(snapshot, includeRemote: !scope.LocalOnly);
        try
        {
            var winner = Rank(candidates, snapshot.Routing, query, scope.Filters)[0].Target;
            response.WinnerNode = winner.Node;
            response.WinnerBackend = winner.Backend;
        }
        catch (RpcException ex)
        {
            response.Refusal = $"{ex.StatusCode}: {ex.Status.Detail}";
        }

        if (!snapshot.Routing.Profiles.TryGetValue(response.Profile, out var profile))
        {
            return response;
        }

        var weights = CandidateScorer.Weights(profile, query.Overrides);
        response.Weights = new V1.ScoreWeights
        {
            Quality = weights.Quality, Price = weights.Price, Latency = weights.Latency,
            Load = weights.Load, Warm = weights.Warm, Locality = weights.Locality,
        };
        var now = time.GetUtcNow();
        var eligible = candidates.Where(c => Exclusion(c, query, scope, now) is null).ToList();
        var highestPrice = eligible.Count > 0 ? eligible.Max(CandidateScorer.BlendedPrice) : 0;
        var explained = candidates.Select(candidate =>
        {
            var terms = scorer.Terms(candidate, highestPrice, Forwarded(candidate));
            var excluded = Exclusion(candidate, query, scope, now);
            return new V1.CandidateExplanation
            {
                Node = candidate.Node,
                Pool = candidate.Pool,
                Backend = candidate.Backend,
                Model = candidate.Model,
                Local = candidate.IsLocal,
                LoadKnown = candidate.IsLocal || candidate.Load is not null,
                Excluded = excluded ?? "",
                Terms = new V1.ScoreTerms
                {
                    Quality = terms.Quality, Price = terms.Price, Latency = terms.Latency,
                    Load = terms.Load, Warm = terms.Warm, Locality = terms.Locality,
                },
                Score = excluded is null ? CandidateScorer.Weighted(terms, weights) : 0,
            };
        });
        response.Candidates.AddRange(explained.OrderBy(c => c.Excluded.Length > 0).ThenByDescending(c => c.Score));
        return response;
    }

    /// <summary>Why a candidate cannot serve the query, or null when it can.</summary>
    private string? Exclusion(RouteCandidate candidate, RouteQuery query, RouteScope scope, DateTimeOffset now)
    {
        if (candidate.Kind != query.Kind)
        {
            return $"a {candidate.Kind.ToString().ToLowerInvariant()} model";
        }

        if (!query.IsAuto && !candidate.Answers(query.Model))
        {
            return $"not '{query.Model}'";
        }

        if ((query.Needs ?? []).FirstOrDefault(feature => !RouteCandidate.Contains(candidate.Features, feature)) is { } lacking)
        {
            return $"has no '{lacking}' feature, which the request needs";
        }

        if (!Meets(candidate, query.Requirements))
        {
            return "does not meet the requirements";
        }

        if (query.PolicyLabels.FirstOrDefault(label => !Permits(label, candidate, query.Pool)) is { } label)
        {
            return $"forbidden by policy label '{label}'";
        }

        foreach (var filter in scope.Filters)
        {
            if (filter.Excludes(candidate) is { } reason)
            {
                return reason;
            }
        }

        if ((breakers.CooldownUntil(candidate.Key) ?? candidate.Load?.CooldownUntil?.ToDateTimeOffset()) is { } until && until > now)
        {
            return $"cooling down until {until:HH:mm:ss}";
        }

        if (candidate.Suspect)
        {
            return "its member is suspect (tried only when no other candidate can serve)";
        }

        return null;
    }

    private static ScoreWeightSet ProfileWeights(RoutingSettings routing, RouteQuery query)
    {
        var name = string.IsNullOrEmpty(query.Profile) ? routing.DefaultProfile : query.Profile;
        if (!routing.Profiles.TryGetValue(name, out var profile))
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument,
                $"routing_profile: unknown profile '{name}' (known: {string.Join(", ", routing.Profiles.Keys.Order(StringComparer.Ordinal))})"));
        }

        return CandidateScorer.Weights(profile, query.Overrides);
    }

    private static bool Has(RouteCandidate model, IReadOnlyList<string> features)
    {
        for (var i = 0; i < features.Count; i++)
        {
            if (!RouteCandidate.Contains(model.Features, features[i]))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// The INVALID_ARGUMENT for a request whose content needs a feature no copy of its model has (a model
    /// without "tools" asked to call tools), naming the field that needs it and the models that have it.
    /// </summary>
    private static RpcException LacksFeatures(IReadOnlyList<RouteCandidate> candidates, RouteQuery query, IReadOnlyList<string> needs)
    {
        bool Named(RouteCandidate c) => c.Kind == query.Kind && (query.IsAuto || c.Answers(query.Model));
        var missing = needs.FirstOrDefault(feature => !candidates.Any(c => Named(c) && RouteCandidate.Contains(c.Features, feature)));
        var what = query.IsAuto ? "no model in reach" : $"no copy of '{query.Model}' in reach";
        if (missing is null)
        {
            return new RpcException(new Status(StatusCode.InvalidArgument,
                $"{string.Join(", ", needs.Select(ModelFeatures.Field))}: {what} has all of the features the request needs ({string.Join(", ", needs)})"));
        }

        var having = candidates.Where(c => c.Kind == query.Kind && RouteCandidate.Contains(c.Features, missing)).Select(c => c.Model).Distinct().Order(StringComparer.Ordinal).ToList();
        return new RpcException(new Status(StatusCode.InvalidArgument,
            $"{ModelFeatures.Field(missing)}: {what} has the '{missing}' feature, which the request needs ({ModelFeatures.Reason(missing)}); "
            + (having.Count > 0 ? $"models with it: {string.Join(", ", having)}" : "no model in reach has it")));
    }

    private static bool Meets(RouteCandidate model, V1.ModelRequirements? requirements)
    {
        if (requirements is null)
        {
            return true;
        }

        if (model.ContextTokens < requirements.MinContextTokens || model.Quality < requirements.MinQuality)
        {
            return false;
        }

        // Indexed: a repeated field's enumerator is an object, and this runs for every candidate.
        for (var i = 0; i < requirements.Features.Count; i++)
        {
            if (!RouteCandidate.Contains(model.Features, requirements.Features[i]))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The index of the first label that forbids the candidate, or -1 when every label permits it.</summary>
    private static int ForbiddingLabel(IReadOnlyList<string> labels, RouteCandidate candidate, string pool)
    {
        for (var i = 0; i < labels.Count; i++)
        {
            if (!Permits(labels[i], candidate, pool))
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>The index of the first scope filter that excludes the candidate, or -1 when every filter lets it through.</summary>
    private static int ExcludingFilter(IReadOnlyList<ICandidateFilter> filters, RouteCandidate candidate)
    {
        for (var i = 0; i < filters.Count; i++)
        {
            if (filters[i].Excludes(candidate) is not null)
            {
                return i;
            }
        }

        return -1;
    }

    // A member of the pool the request is in shares its subnet, so subnet-only permits it; a route through an
    // integrator, or a member of another pool (an integrator's other side), leaves it.
    public static bool Permits(string label, RouteCandidate candidate, string pool) =>
        (label != PolicyLabels.OnPremOnly || !candidate.Cloud)
        && (label != PolicyLabels.SubnetOnly || (!candidate.IsRoute && string.Equals(candidate.Pool, pool, StringComparison.Ordinal)));

    private static string Describe(V1.ModelRequirements requirements)
    {
        var parts = new List<string>();
        if (requirements.MinContextTokens > 0)
        {
            parts.Add($"min_context_tokens {requirements.MinContextTokens}");
        }

        if (requirements.MinQuality > 0)
        {
            parts.Add($"min_quality {requirements.MinQuality}");
        }

        if (requirements.Features.Count > 0)
        {
            parts.Add($"features [{string.Join(", ", requirements.Features)}]");
        }

        return string.Join(", ", parts);
    }
}
