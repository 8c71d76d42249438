using Grpc.Core;
using LlmRouter.Common.Configuration;
using LlmRouter.Node.Catalog;

namespace LlmRouter.Node.Routing;

/// <summary>A candidate with its score.</summary>
internal readonly record struct ScoredCandidate(LocalModel Target, double Score);

/// <summary>
/// Chooses among this node's own backends: filter by model, requirements and policy, then rank by score.
/// Each way of finding nothing gets its own status (NOT_FOUND, FAILED_PRECONDITION) naming the reason.
/// </summary>
internal sealed class LocalRouter(CandidateScorer scorer)
{
    public IReadOnlyList<ScoredCandidate> Rank(CatalogSnapshot snapshot, RouteQuery query)
    {
        var weights = ProfileWeights(snapshot.Routing, query);
        var ofKind = snapshot.Models.Where(m => m.Model.Kind == query.Kind).ToList();
        var named = query.IsAuto ? ofKind : ofKind.Where(m => m.Answers(query.Model)).ToList();
        if (named.Count == 0)
        {
            var known = string.Join(", ", ofKind.Select(m => m.Model.Id).Distinct().Order(StringComparer.Ordinal));
            throw new RpcException(new Status(StatusCode.NotFound,
                $"model: no node in reach serves '{query.Model}' (models here: {(known.Length > 0 ? known : "none")}; ListModels lists them)"));
        }

        var capable = named.Where(m => Meets(m.Model, query.Requirements)).ToList();
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

        var highestPrice = allowed.Max(m => CandidateScorer.BlendedPrice(m.Model));
        return allowed
            .Select(m => new ScoredCandidate(m, scorer.Score(m, weights, highestPrice)))
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

    private static bool Meets(ModelConfig model, V1.ModelRequirements? requirements) =>
        requirements is null
        || (model.ContextTokens >= requirements.MinContextTokens
            && model.Quality >= requirements.MinQuality
            && requirements.Features.All(f => model.Features.Contains(f, StringComparer.Ordinal)));

    // Every local backend is inside the entry subnet, so subnet-only permits them all here.
    private static bool Permits(string label, LocalModel candidate) =>
        label != PolicyLabels.OnPremOnly || !candidate.Backend.Config.IsCloud;

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
