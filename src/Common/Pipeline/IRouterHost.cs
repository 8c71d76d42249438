using LlmRouter.Common.Chat;
using LlmRouter.Common.Configuration;
using LlmRouter.Common.Membership;
using LlmRouter.Common.Routing;
using LlmRouter.V1;

namespace LlmRouter.Common.Pipeline;

/// <summary>
/// What one host brings to the one request pipeline (DESIGN.md section 11). Nodes and integrators run the
/// same stages; they differ only in what they answer here. A node has its own backends and one seat, takes
/// calls from clients, and serves requests forwarded to it on its own backends. An integrator has no
/// backends and a seat in each pool it joins, takes calls only from members of the seat's pool, and adds
/// its border rules (never back into the pool a request came from; only what it exports) as filters.
/// </summary>
internal interface IRouterHost
{
    /// <summary>This host's id: the hop name on paths and routes, and in log lines.</summary>
    string Id { get; }

    /// <summary>Node or integrator: who may call it, and how it appears in its pools.</summary>
    MemberRole Role { get; }

    /// <summary>The settings and local candidates a request starts with (a reload publishes a new snapshot).</summary>
    HostSnapshot Current { get; }

    /// <summary>The host's seats: one pool for a node, one per border for an integrator.</summary>
    IReadOnlyList<PoolSeat> Seats { get; }

    /// <summary>The host's own backends; null for an integrator.</summary>
    ILocalExecutor? Local { get; }

    /// <summary>Where a request that arrived as <paramref name="arrival"/> may go from this host, before the request's own rules.</summary>
    RouteScope Scope(Arrival arrival);

    /// <summary>The models ListModels answers with for a caller on this seat.</summary>
    IEnumerable<ModelInfo> Models(PoolSeat seat);
}

/// <summary>What a request reads of its host when it starts: immutable, replaced on reload (candidate caches compare it by reference).</summary>
/// <param name="Local">Candidates on the host's own backends (none on an integrator).</param>
internal sealed record HostSnapshot(MeshConfig Mesh, IReadOnlyList<RouteCandidate> Local)
{
    public RoutingSettings Routing => Mesh.Routing;

    public ServerSettings Server => Mesh.Server;
}

/// <summary>Serves requests on the host's own backends (a node's; an integrator has none).</summary>
internal interface ILocalExecutor
{
    /// <summary>Streams one answer from the candidate's backend into the sink, its route named before its first token.</summary>
    Task ChatAsync(ChatRequest request, RouteCandidate target, RouteInfo route, IChatSink sink, long receivedAt, CancellationToken cancellationToken);

    /// <summary>Embeds the inputs on the candidate's backend.</summary>
    Task<EmbedResponse> EmbedAsync(EmbedRequest request, RouteCandidate target, RouteInfo route, CancellationToken cancellationToken);
}
