using LlmRouter.Common.Protocol;
using Grpc.Core;
using LlmRouter.Common.Configuration;
using LlmRouter.Node.Catalog;
using LlmRouter.Node.Forwarding;
using LlmRouter.Node.Resilience;

namespace LlmRouter.Node.Routing;

/// <summary>A candidate with its score.</summary>
internal readonly record struct ScoredCandidate(RouteCandidate Target, double Score);

/// <summary>
/// The routing decision of DESIGN.md section 6: filter the candidates in reach by model, requirements and
/// policy, then rank them by score. Each way of finding nothing gets its own status (NOT_FOUND,
/// FAILED_PRECONDITION) naming the reason.
/// </summary>
internal sealed class RouteRanker(CandidateScorer scorer, CandidateSource source, ForwardedLoad forwarded, BackendBreakers breakers, TimeProvider time)
{
    // Scores this close to the best (on the 0..1 scale) count as equally good.
    private const double NearBest = 0.02;

    /// <param name="localOnly">Only this node's backends (mode local, or a request that was forwarded here).</param>
    public IReadOnlyList<ScoredCandidate> Rank(CatalogSnapshot snapshot, RouteQuery query, bool localOnly = false)
    {
        try
        {
            return Rank(source.Gather(snapshot, includeRemote: !localOnly), snapshot.Routing, query);
        }
        catch (RpcException ex) when (ex.StatusCode == StatusCode.NotFound && !localOnly && !query.IsAuto
            && source.UnreachableServers(query.Model) is { Count: > 0 } unreachable)
        {
            // The mesh has the model, but only on members out of reach: a route problem, not a wrong name.
            throw new RpcException(new Status(StatusCode.Unavailable,
                $"model '{query.Model}' is served only by members out of reach: {string.Join(", ", unreachable)}; retry later"));
        }
    }

    public IReadOnlyList<ScoredCandidate> Rank(List<RouteCandidate> candidates, RoutingSettings routing, RouteQuery query)
    {
        var weights = ProfileWeights(routing, query);
        var ofKind = candidates.Where(m => m.Kind == query.Kind).ToList();
        var named = query.IsAuto ? ofKind : ofKind.Where(m => m.Answers(query.Model)).ToList();
        if (named.Count == 0)
        {
            var known = string.Join(", ", ofKind.Select(m => m.Model).Distinct().Order(StringComparer.Ordinal));
            throw new RpcException(new Status(StatusCode.NotFound,
                $"model: no node in reach serves '{query.Model}' (models here: {(known.Length > 0 ? known : "none")}; ListModels lists them)"));
        }

        var capable = named.Where(m => Meets(m, query.Requirements)).ToList();
        if (capable.Count == 0)
        {
            throw new RpcException(new Status(StatusCode.NotFound,
                $"requirements: no model named '{query.Model}' meets {Describe(query.Requirements!)}"));
        }

        var allowed = capable;
        foreach (var label in query.PolicyLabels.Distinct(StringComparer.Ordinal))
        {
            allowed = allowed.Where(m => Permits(label, m)).ToList();
            if (allowed.Count == 0)
            {
                throw new RpcException(new Status(StatusCode.FailedPrecondition,
                    $"policy_labels: '{label}' forbids every backend that serves '{query.Model}'"));
            }
        }

        // Backends cooling down (here, or as their own node gossips) are skipped while any other can serve.
        var now = time.GetUtcNow();
        var warm = allowed.Where(c => breakers.CooldownUntil(c.BackendKey) is null && !(c.Load?.CooldownUntil?.ToDateTimeOffset() > now)).ToList();
        if (warm.Count > 0)
        {
            allowed = warm;
        }

        var highestPrice = allowed.Max(CandidateScorer.BlendedPrice);
        var ranked = allowed
            .Select(m => new ScoredCandidate(m, scorer.Score(m, weights, highestPrice, m.IsLocal ? 0 : forwarded.Open(m.BackendKey))))
            .OrderByDescending(c => c.Score)
            .ToList();
        return TwoChoices(ranked);
    }

    /// <summary>
    /// Power of two choices among the near-best: when several candidates score within a hair of the best,
    /// two of them are drawn at random and the better goes first. Entry nodes that all see the same idle
    /// peer then spread their requests instead of piling onto it until its next load record arrives.
    /// </summary>
    private List<ScoredCandidate> TwoChoices(List<ScoredCandidate> ranked)
    {
        var near = ranked.TakeWhile(c => ranked[0].Score - c.Score <= NearBest).Count();
        if (near < 3)
        {
            return ranked;
        }

        var first = (int)(scorer.NextRandom() * near);
        var second = (first + 1 + (int)(scorer.NextRandom() * (near - 1))) % near;
        var chosen = ranked[Math.Min(first, second)];
        ranked.RemoveAt(Math.Min(first, second));
        ranked.Insert(0, chosen);
        return ranked;
    }

    /// <summary>Every candidate with the reason it is excluded or its score terms, for the Admin Explain call.</summary>
    public V1.ExplainResponse Explain(CatalogSnapshot snapshot, RouteQuery query, bool localOnly)
    {
        var response = new V1.ExplainResponse { Profile = string.IsNullOrEmpty(query.Profile) ? snapshot.Routing.DefaultProfile : query.Profile };
        var candidates = source.Gather(snapshot, includeRemote: !localOnly);
        try
        {
            var winner = Rank(candidates, snapshot.Routing, query)[0].Target;
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
        var eligible = candidates.Where(c => Exclusion(c, query, now) is null).ToList();
        var highestPrice = eligible.Count > 0 ? eligible.Max(CandidateScorer.BlendedPrice) : 0;
        var explained = candidates.Select(candidate =>
        {
            var terms = scorer.Terms(candidate, highestPrice, candidate.IsLocal ? 0 : forwarded.Open(candidate.BackendKey));
            var excluded = Exclusion(candidate, query, now);
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
    private string? Exclusion(RouteCandidate candidate, RouteQuery query, DateTimeOffset now)
    {
        if (candidate.Kind != query.Kind)
        {
            return $"a {candidate.Kind.ToString().ToLowerInvariant()} model";
        }

        if (!query.IsAuto && !candidate.Answers(query.Model))
        {
            return $"not '{query.Model}'";
        }

        if (!Meets(candidate, query.Requirements))
        {
            return "does not meet the requirements";
        }

        if (query.PolicyLabels.FirstOrDefault(label => !Permits(label, candidate)) is { } label)
        {
            return $"forbidden by policy label '{label}'";
        }

        if ((breakers.CooldownUntil(candidate.BackendKey) ?? candidate.Load?.CooldownUntil?.ToDateTimeOffset()) is { } until && until > now)
        {
            return $"cooling down until {until:HH:mm:ss}";
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

    private static bool Meets(RouteCandidate model, V1.ModelRequirements? requirements) =>
        requirements is null
        || (model.ContextTokens >= requirements.MinContextTokens
            && model.Quality >= requirements.MinQuality
            && requirements.Features.All(f => model.Features.Contains(f, StringComparer.Ordinal)));

    // Pool members share the entry subnet, so subnet-only permits them; a route through an integrator leaves it.
    private static bool Permits(string label, RouteCandidate candidate) =>
        (label != PolicyLabels.OnPremOnly || !candidate.Cloud) && (label != PolicyLabels.SubnetOnly || !candidate.IsRoute);

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
