using Grpc.Core;
using LlmRouter.Common.Access;
using LlmRouter.Common.Configuration;
using LlmRouter.Common.Gossip;
using LlmRouter.Common.Grpc;
using LlmRouter.Common.Hosting;
using LlmRouter.Common.Identity;
using LlmRouter.Common.Membership;
using LlmRouter.Common.Protocol;
using LlmRouter.V1;

namespace LlmRouter.Common.Pipeline;

/// <summary>
/// How a Router call arrived: on which seat (the listener of which pool), from whom, the request id, the
/// path so far, what is left of the request's attempt budget and which copies already failed for it.
/// </summary>
/// <param name="Caller">The caller's mesh identity (a member's, or a client's certificate); null for a client that presented no certificate.</param>
/// <param name="Principal">The tenant the request is served for and what proved it (<see cref="Callers"/>).</param>
internal sealed record Arrival(
    PoolSeat Seat, MeshIdentity? Caller, string RequestId, IReadOnlyList<string> Path, int Budget, IReadOnlyList<string> FailedBefore, Principal Principal)
{
    /// <summary>Forwarded by another hop (a node or an integrator), not sent by a client.</summary>
    public bool Forwarded => Path.Count > 0;

    public TenantConfig Tenant => Principal.Tenant;
}

/// <summary>
/// The first stage of every call: which seat it came in on, and whether its caller may make it there. The
/// same rules on nodes and integrators: members of a pool are answered only on that pool's listener; an
/// integrator carries requests only for members of the pool whose listener they called; a node also takes
/// clients, with or without a certificate (one presented was checked against the mesh CA by TLS), but only
/// members of its pool may forward to it (the path, attempt budget and failed copies a forward carries).
/// </summary>
internal sealed class Arrivals(IRouterHost host, MeshTrust trust, Callers callers)
{
    private static readonly string[] ForwardingHeaders = [RouterMetadata.Path, RouterMetadata.Attempts, RouterMetadata.Exclude, RouterMetadata.Tenant];

    /// <summary>
    /// The Router API: checks the caller and the path (no loop, hop limit), reads the budget and failed copies, and
    /// identifies the tenant the request is served for (<see cref="Callers"/>).
    /// </summary>
    public async ValueTask<Arrival> RouterAsync(ServerCallContext context, MeshConfig mesh)
    {
        var seat = SeatOf(context);
        var headers = context.RequestHeaders;
        MeshIdentity? caller;
        if (host.Role != MemberRole.Node)
        {
            caller = CallerIdentity.Require(context, trust, MeshRole.Node, MeshRole.Integrator);
            EnsureMemberOf(seat, caller, "hand requests to");
        }
        else
        {
            caller = HttpOf(context)?.Connection.ClientCertificate is { } certificate ? trust.IdentifyPeer(certificate) : null;
            if (ForwardingHeaders.FirstOrDefault(name => headers.Get(name) is not null) is { } forwarding
                && (caller is not { Role: MeshRole.Node or MeshRole.Integrator } || caller.Pool != seat.Name))
            {
                throw new RpcException(new Status(StatusCode.PermissionDenied,
                    $"{forwarding}: only members of pool '{seat.Name}' forward requests to '{host.Id}' ({caller?.ToString() ?? "a caller without a certificate"} is not one); a client sends no llmrouter-path, llmrouter-attempts, llmrouter-exclude or llmrouter-tenant"));
            }
        }

        var path = ForwardingPath.Read(headers);
        ForwardingPath.EnsureAllowed(path, host.Id);
        var principal = await callers.IdentifyAsync(context, caller, forwarded: path.Count > 0, mesh).ConfigureAwait(false);
        return new Arrival(seat, caller, RequestIds.From(headers), path, AttemptBudget.Read(headers), AttemptBudget.ReadExcluded(headers), principal);
    }

    /// <summary>The Mesh API: only members (nodes, integrators) of the seat's pool.</summary>
    public (PoolSeat Seat, MeshIdentity Caller) Member(ServerCallContext context)
    {
        var seat = SeatOf(context);
        var caller = CallerIdentity.Require(context, trust, MeshRole.Node, MeshRole.Integrator);
        EnsureMemberOf(seat, caller, "exchange membership messages with");
        return (seat, caller);
    }

    /// <summary>
    /// The Admin API: operators (client certificates that <c>access.operators</c> names), and members of the seat's
    /// pool; answered for the seat's pool.
    /// </summary>
    public PoolSeat Operator(ServerCallContext context)
    {
        var caller = CallerIdentity.Require(context, trust, MeshRole.Client, MeshRole.Node, MeshRole.Integrator);
        var seat = SeatOf(context);
        if (caller.Role != MeshRole.Client)
        {
            EnsureMemberOf(seat, caller, "ask the Admin API of");
        }
        else if (!host.Current.Mesh.Access.Operators.Contains(caller.Name, StringComparer.Ordinal))
        {
            throw new RpcException(new Status(StatusCode.PermissionDenied,
                $"client '{caller.Name}' is not an operator: the Admin API answers the clients access.operators names in {host.Current.Mesh.SourcePath}"));
        }

        return seat;
    }

    /// <summary>The seat whose listener took the call; a host with one seat (a node) needs no tag.</summary>
    public PoolSeat SeatOf(ServerCallContext context)
    {
        var seats = host.Seats;
        if (HttpOf(context)?.Features.Get<ListenerSeat>() is { } listener)
        {
            for (var i = 0; i < seats.Count; i++)
            {
                if (string.Equals(seats[i].Name, listener.Pool, StringComparison.Ordinal))
                {
                    return seats[i];
                }
            }

            throw new RpcException(new Status(StatusCode.Internal, $"the listener of pool '{listener.Pool}' has no seat on '{host.Id}'"));
        }

        return seats.Count == 1
            ? seats[0]
            : throw new RpcException(new Status(StatusCode.Internal, $"'{host.Id}' cannot tell which of its pools this listener serves"));
    }

    /// <summary>The call's HTTP context; null for a call context made without one (a service method called directly).</summary>
    private static Microsoft.AspNetCore.Http.HttpContext? HttpOf(ServerCallContext context)
    {
        try
        {
            return context.GetHttpContext();
        }
        catch (InvalidOperationException)
        {
            return null;
        }
    }

    private void EnsureMemberOf(PoolSeat seat, MeshIdentity caller, string what)
    {
        if (!string.Equals(caller.Pool, seat.Name, StringComparison.Ordinal))
        {
            throw new RpcException(new Status(StatusCode.PermissionDenied,
                $"{caller} is in pool '{caller.Pool}', but this listener of '{host.Id}' serves pool '{seat.Name}': only its members may {what} it here"));
        }
    }
}
