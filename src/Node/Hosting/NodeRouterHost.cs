using LlmRouter.Common.Membership;
using LlmRouter.Common.Pipeline;
using LlmRouter.Common.Routing;
using LlmRouter.Node.Backends;
using LlmRouter.Node.Catalog;
using LlmRouter.V1;

namespace LlmRouter.Node.Hosting;

/// <summary>
/// A node as the one request pipeline sees it: its own backends (the catalog, reloaded with the mesh file),
/// one seat in its pool, clients welcome. A request from a client may go anywhere the node can reach; a
/// request another hop forwarded here is served on this node's own backends.
/// </summary>
internal sealed class NodeRouterHost(NodeCatalog catalog, PoolSeat seat, LocalBackends backends) : IRouterHost
{
    public string Id => catalog.NodeId;

    public MemberRole Role => MemberRole.Node;

    public HostSnapshot Current => catalog.Current.Host;

    public IReadOnlyList<PoolSeat> Seats { get; } = [seat];

    public ILocalExecutor? Local => backends;

    public RouteScope Scope(Arrival arrival) => arrival.Forwarded ? RouteScope.Local : RouteScope.Mesh;

    public IEnumerable<ModelInfo> Models(PoolSeat seat) => ModelInfos.Of(catalog.Current);
}
