using LlmRouter.Common.Configuration;
using LlmRouter.Node.Catalog;
using LlmRouter.Node.Forwarding;
using LlmRouter.V1;

namespace LlmRouter.Node.Routing;

/// <summary>
/// One model on one backend somewhere in reach: on this node (<see cref="Local"/> set) or on a pool member
/// (from its gossiped model record, with its load record when a fresh one is known). Immutable: the
/// candidate source builds each once per change of the catalog or the membership view and every request
/// reads the same instances, so nothing here may allocate on a request's path.
/// </summary>
internal sealed class RouteCandidate
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

    /// <summary>Whether the load record lists the model as warm: looked up once here, not per request.</summary>
    public bool WarmInLoad { get; init; }

    /// <summary>For a route through an integrator: the pools the request would cross, nearest first; empty otherwise.</summary>
    public IReadOnlyList<string> ViaPools { get; init; } = [];

    /// <summary>This node's count of requests forwarded to the backend; attached by the source that builds the candidate.</summary>
    public ForwardedLoad.Counter? Forwarded { get; private set; }

    public bool IsLocal => Local is not null;

    /// <summary>A route through an integrator into another pool (DESIGN.md section 5).</summary>
    public bool IsRoute => ViaPools.Count > 0;

    /// <summary>Identifies the backend across the pool, for circuit breaking and forwarded-load accounting.</summary>
    /// <remarks>Built on first use and kept: ranking looks it up for every candidate of every request.</remarks>
    public string BackendKey => field ??= $"{Node}/{Backend}";

    /// <summary>Attaches the forwarded-load counter; called once, while the candidate is built and before anyone reads it.</summary>
    public RouteCandidate WithForwarded(ForwardedLoad.Counter counter)
    {
        Forwarded = counter;
        return this;
    }

    public bool Answers(string name) => string.Equals(Model, name, StringComparison.Ordinal) || Contains(Aliases, name);

    /// <summary>Whether the list holds the value (ordinal); an indexed loop, so no enumerator is allocated.</summary>
    public static bool Contains(IReadOnlyList<string> values, string value)
    {
        for (var i = 0; i < values.Count; i++)
        {
            if (string.Equals(values[i], value, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

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

    /// <summary>A model behind an integrator: reached through the integrator's address in this pool.</summary>
    public static RouteCandidate FromRoute(ModelRoute route, string integrator, string pool, string address)
    {
        var capacity = route.FreeCapacity;
        return FromRemote(route.Model, address, new BackendLoad
        {
            Backend = route.Model.Backend,
            // The route's summed free capacity and least load stand in for a backend's load record.
            MaxConcurrency = Math.Max(1, capacity),
            InFlight = (uint)Math.Round(Math.Clamp(route.LeastLoad, 0, 1) * Math.Max(1, capacity)),
        }, integrator, pool, $"{route.Model.Node}/{route.Model.Backend}", route.Pools);
    }

    public static RouteCandidate FromRemote(ModelInfo model, string address, BackendLoad? load) =>
        FromRemote(model, address, load, model.Node, model.Pool, model.Backend, []);

    private static RouteCandidate FromRemote(
        ModelInfo model, string address, BackendLoad? load, string node, string pool, string backend, IReadOnlyList<string> viaPools) => new()
    {
        Node = node,
        Pool = pool,
        Address = address,
        Backend = backend,
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
        WarmInLoad = load?.WarmModels.Contains(model.Id) ?? false,
        ViaPools = viaPools,
    };
}
