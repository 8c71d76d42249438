using LlmRouter.Common.Configuration;
using LlmRouter.Common.Forwarding;
using LlmRouter.V1;

namespace LlmRouter.Common.Routing;

/// <summary>
/// One model somewhere in reach: on this host's own backend (<see cref="Local"/> set), on a member of one
/// of its pools (from that member's gossiped model record, with its load record when a fresh one is
/// known), or behind an integrator (a route into farther pools). Immutable: the candidate source builds
/// each once per change of the host's snapshot or of a pool's membership snapshot, and every request reads
/// the same instances, so nothing here may allocate on a request's path.
/// </summary>
internal sealed class RouteCandidate
{
    /// <summary>The node that serves it, or for a route the integrator that carries it.</summary>
    public required string Node { get; init; }

    /// <summary>The pool of <see cref="Node"/>: the seat this host dials it through.</summary>
    public required string Pool { get; init; }

    /// <summary>Where to forward to; empty for a local candidate.</summary>
    public required string Address { get; init; }

    /// <summary>The backend on <see cref="Node"/>; empty for a route (which copy serves is the integrator's choice).</summary>
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

    /// <summary>This host's own backend and model, for local candidates: its gauges score it, its executor serves it.</summary>
    public ILocalTarget? Local { get; init; }

    /// <summary>A remote backend's fresh gossiped load; null when unknown (stale or never received).</summary>
    public BackendLoad? Load { get; init; }

    /// <summary>Whether the load record lists the model as warm: looked up once here, not per request.</summary>
    public bool WarmInLoad { get; init; }

    /// <summary>The member that serves it (or carries it, for a route) is suspect: tried only when no other candidate can serve.</summary>
    public bool Suspect { get; init; }

    /// <summary>For a route through an integrator: the pools the request would cross, nearest first; empty otherwise.</summary>
    public IReadOnlyList<string> ViaPools { get; init; } = [];

    /// <summary>This host's count of requests forwarded to the candidate; attached by the source that builds it.</summary>
    public ForwardedLoad.Counter? Forwarded { get; private set; }

    public bool IsLocal => Local is not null;

    /// <summary>A route through an integrator into another pool (DESIGN.md section 5).</summary>
    public bool IsRoute => ViaPools.Count > 0;

    /// <summary>
    /// What a failure of this candidate is recorded against (breakers, cooldowns, the copies a request has
    /// tried): the copy, "node/backend", for a backend; "integrator/route:model" for a route, whose failures
    /// are recorded against the copies behind it when the integrator names them.
    /// </summary>
    /// <remarks>Built on first use and kept: ranking looks it up for every candidate of every request.</remarks>
    public string Key => field ??= IsRoute ? RouteKey(Node, Model) : CopyKey(Node, Backend);

    /// <summary>The key of one copy of a model: the node and the backend that serve it.</summary>
    public static string CopyKey(string node, string backend) => $"{node}/{backend}";

    public static string RouteKey(string integrator, string model) => $"{integrator}/route:{model}";

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

    /// <summary>A model behind an integrator: reached through the integrator's address in one of this host's pools.</summary>
    public static RouteCandidate FromRoute(ModelRoute route, string integrator, string pool, string address, bool suspect = false)
    {
        var capacity = route.FreeCapacity;
        return FromRemote(route.Model, address, new BackendLoad
        {
            // The route's summed free capacity and least load stand in for a backend's load record.
            MaxConcurrency = Math.Max(1, capacity),
            InFlight = (uint)Math.Round(Math.Clamp(route.LeastLoad, 0, 1) * Math.Max(1, capacity)),
        }, integrator, pool, "", route.Pools, suspect);
    }

    /// <summary>A model of a member of one of this host's pools, as its model record describes it.</summary>
    public static RouteCandidate FromRemote(ModelInfo model, string address, BackendLoad? load, bool suspect = false) =>
        FromRemote(model, address, load, model.Node, model.Pool, model.Backend, [], suspect);

    private static RouteCandidate FromRemote(
        ModelInfo model, string address, BackendLoad? load, string node, string pool, string backend, IReadOnlyList<string> viaPools, bool suspect) => new()
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
        Suspect = suspect,
    };
}
