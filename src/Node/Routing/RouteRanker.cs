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
    /// <param name="localOnly">Only this node's backends (mode local, or a request that was forwarded here).</param>
    public IReadOnlyList<ScoredCandidate> Rank(CatalogSnapshot snapshot, RouteQuery query, bool localOnly = false) =>
        Rank(source.Gather(snapshot, includeRemote: !localOnly), snapshot.Routing, query);

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
        return allowed
            .Select(m => new ScoredCandidate(m, scorer.Score(m, weights, highestPrice, m.IsLocal ? 0 : forwarded.Open(m.BackendKey))))
            .OrderByDescending(c => c.Score)
            .ToList();
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

    // Pool members share the entry subnet, so subnet-only permits them; integrator routes (issue 5) will not.
    private static bool Permits(string label, RouteCandidate candidate) =>
        label != PolicyLabels.OnPremOnly || !candidate.Cloud;

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
