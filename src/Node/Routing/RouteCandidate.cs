using LlmRouter.Common.Configuration;
using LlmRouter.Node.Catalog;
using LlmRouter.V1;

namespace LlmRouter.Node.Routing;

/// <summary>
/// One model on one backend somewhere in reach: on this node (<see cref="Local"/> set) or on a pool member
/// (from its gossiped model record, with its load record when a fresh one is known).
/// </summary>
internal sealed record RouteCandidate
{
    public required string Node { get; init; }

    public required string Pool { get; init; }

    /// <summary>Where to forward to; empty for a local candidate.</summary>
    public required string Address { get; init; }

    public required string Backend { get; init; }

    public required string BackendKind { get; init; }

    public required bool Cloud { get; init; }

    public required string Model { get; init; }

    public required IReadOnlyList<string> Aliases { get; init; }

    public required ModelKindConfig Kind { get; init; }

    public required double Quality { get; init; }

    public required int ContextTokens { get; init; }

    public required IReadOnlyList<string> Features { get; init; }

    public required double InputPricePerMillion { get; init; }

    public required double OutputPricePerMillion { get; init; }

    /// <summary>The local backend and model, for candidates on this node.</summary>
    public LocalModel? Local { get; init; }

    /// <summary>A remote backend's fresh gossiped load; null when unknown (stale or never received).</summary>
    public BackendLoad? Load { get; init; }

    public bool IsLocal => Local is not null;

    /// <summary>Identifies the backend across the pool, for circuit breaking and forwarded-load accounting.</summary>
    public string BackendKey => $"{Node}/{Backend}";

    public bool Answers(string name) =>
        string.Equals(Model, name, StringComparison.Ordinal) || Aliases.Contains(name, StringComparer.Ordinal);

    public static RouteCandidate FromLocal(LocalModel local, NodeConfig node) => new()
    {
        Node = node.Id,
        Pool = node.Pool,
        Address = "",
        Backend = local.Backend.Id,
        BackendKind = BackendKindNames.Name(local.Backend.Config.Kind),
        Cloud = local.Backend.Config.IsCloud,
        Model = local.Model.Id,
        Aliases = local.Model.Aliases,
        Kind = local.Model.Kind,
        Quality = local.Model.Quality,
        ContextTokens = local.Model.ContextTokens,
        Features = local.Model.Features,
        InputPricePerMillion = local.Model.InputPricePerMillion,
        OutputPricePerMillion = local.Model.OutputPricePerMillion,
        Local = local,
    };

    public static RouteCandidate FromRemote(ModelInfo model, string address, BackendLoad? load) => new()
    {
        Node = model.Node,
        Pool = model.Pool,
        Address = address,
        Backend = model.Backend,
        BackendKind = model.BackendKind,
        Cloud = model.Cloud,
        Model = model.Id,
        Aliases = model.Aliases,
        Kind = model.Kind == ModelKind.Embedding ? ModelKindConfig.Embedding : ModelKindConfig.Chat,
        Quality = model.Quality,
        ContextTokens = (int)model.ContextTokens,
        Features = model.Features,
        InputPricePerMillion = model.Price?.InputPerMillion ?? 0,
        OutputPricePerMillion = model.Price?.OutputPerMillion ?? 0,
        Load = load,
    };
}
