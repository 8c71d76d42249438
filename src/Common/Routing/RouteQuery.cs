using LlmRouter.Common.Configuration;
using LlmRouter.Common.Protocol;
using LlmRouter.V1;

namespace LlmRouter.Common.Routing;

/// <summary>What a request asks of the router, independent of whether it is a chat or an embedding.</summary>
/// <param name="Pool">The pool the request is in at this hop: a candidate outside it leaves the subnet (subnet-only).</param>
/// <param name="Needs">Features the request's content needs (<see cref="ModelFeatures.NeededBy"/>), beyond those its requirements name.</param>
internal sealed record RouteQuery(
    string Model,
    ModelKindConfig Kind,
    ModelRequirements? Requirements,
    IReadOnlyList<string> PolicyLabels,
    string? Profile,
    ScoreWeights? Overrides,
    string Pool,
    IReadOnlyList<string>? Needs = null)
{
    public const string Auto = "auto";

    public bool IsAuto => string.Equals(Model, Auto, StringComparison.Ordinal);

    public static RouteQuery For(ChatRequest request, string pool) => new(
        request.Model, ModelKindConfig.Chat, request.Requirements, request.PolicyLabels, request.RoutingProfile, request.Weights, pool, ModelFeatures.NeededBy(request));

    public static RouteQuery For(EmbedRequest request, string pool) => new(
        request.Model, ModelKindConfig.Embedding, null, request.PolicyLabels, null, null, pool);
}
