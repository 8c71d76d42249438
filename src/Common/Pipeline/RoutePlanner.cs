using Grpc.Core;
using LlmRouter.Common.Forwarding;
using LlmRouter.Common.Routing;
using LlmRouter.V1;

namespace LlmRouter.Common.Pipeline;

/// <summary>
/// The routing stage of every request, shared by chats, embeddings and Explain: the scope the host and the
/// request allow, the ranking, and a fresh ranking after each failure.
/// </summary>
internal sealed class RoutePlanner(IRouterHost host, RouteRanker ranker)
{
    /// <summary>
    /// Where a request may go from here: the host's scope (a node serves a forwarded request on its own
    /// backends; an integrator adds its border rules), only the host's own backends in mode local, never
    /// back to a member on its path, never to a copy that already failed for it, and only to what the
    /// request's tenant may use (<see cref="Access.TenantPermits"/>).
    /// </summary>
    public RouteScope Scope(Arrival arrival, RoutingMode mode)
    {
        var scope = mode == RoutingMode.Local ? RouteScope.Local : host.Scope(arrival);
        if (arrival.Forwarded && !scope.LocalOnly)
        {
            scope = scope.With(new NotOnPath(arrival.Path));
        }

        if (arrival.FailedBefore.Count > 0)
        {
            scope = scope.With(new NotFailedBefore(arrival.FailedBefore));
        }

        // First: the refusal is the tenant's (PERMISSION_DENIED) only when its permissions alone left nothing; when a
        // copy it may use was out of reach for another reason (failed already, on the path), that reason is named.
        return Access.TenantPermits.Restricts(arrival.Tenant)
            ? scope.WithFirst(new Access.TenantPermits(arrival.Tenant, arrival.Seat.Name, host.Current.Mesh.SourcePath))
            : scope;
    }

    public IReadOnlyList<ScoredCandidate> Rank(HostSnapshot snapshot, RouteQuery query, RouteScope scope) => ranker.Rank(snapshot, query, scope);

    /// <summary>A fresh ranking after a failure; null when nothing is in reach any more (what is left of the first one is all there is).</summary>
    public IReadOnlyList<ScoredCandidate>? Rerank(RouteQuery query, RouteScope scope)
    {
        try
        {
            return ranker.Rank(host.Current, query, scope);
        }
        catch (RpcException)
        {
            return null;
        }
    }

    public ExplainResponse Explain(RouteQuery query, RouteScope scope) => ranker.Explain(host.Current, query, scope);

    /// <summary>The route of an attempt on this host's own backend.</summary>
    public static RouteInfo LocalRoute(ForwardingContext call, RouteCandidate candidate)
    {
        var route = new RouteInfo
        {
            RequestId = call.RequestId,
            ServingNode = call.Self.Node,
            Backend = candidate.Backend,
            Model = candidate.Model,
            BackendKind = candidate.BackendKind,
            Attempt = call.AttemptsBefore + 1,
            TraceId = System.Diagnostics.Activity.Current?.TraceId.ToHexString() ?? "",
        };
        route.Path.Add(call.Self);
        return route;
    }
}
