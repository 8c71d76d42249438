using LlmRouter.Common.Protocol;
using LlmRouter.Common.Configuration;
using LlmRouter.V1;

namespace LlmRouter.Node.Routing;

/// <summary>What a request asks of the router, independent of whether it is a chat or an embedding.</summary>
internal sealed record RouteQuery(
    string Model,
    ModelKindConfig Kind,
    ModelRequirements? Requirements,
    IReadOnlyList<string> PolicyLabels,
    string? Profile,
    ScoreWeights? Overrides)
{
    public const string Auto = "auto";

    public bool IsAuto => string.Equals(Model, Auto, StringComparison.Ordinal);

    public static RouteQuery For(ChatRequest request) => new(
        request.Model, ModelKindConfig.Chat, request.Requirements, request.PolicyLabels, request.RoutingProfile, request.Weights);

    public static RouteQuery For(EmbedRequest request) => new(
        request.Model, ModelKindConfig.Embedding, null, request.PolicyLabels, null, null);
}
