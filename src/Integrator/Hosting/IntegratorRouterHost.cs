using LlmRouter.Common.Gossip;
using LlmRouter.Common.Identity;
using LlmRouter.Common.Membership;
using LlmRouter.Common.Pipeline;
using LlmRouter.Common.Routing;
using LlmRouter.V1;

namespace LlmRouter.Integrator.Hosting;

/// <summary>
/// An integrator as the one request pipeline sees it: no backends of its own, a seat in each pool it joins
/// (its own listener and certificate there), and its border rules as filters: a request is carried only
/// out of the pool it came from (never back into it, nor along a route through it), and only for the
/// models this border exports. Only members of the pool whose listener was called may hand it requests.
/// </summary>
internal sealed class IntegratorRouterHost : IRouterHost, IDisposable
{
    private readonly IntegratorLaunch _launch;
    private readonly HostSnapshot _snapshot;
    private readonly Dictionary<string, RouteScope> _scopes;

    public IntegratorRouterHost(IntegratorLaunch launch, CertificateStore store, MeshTrust trust, ILogger<MemberCertificate> certificateLogger)
    {
        _launch = launch;
        _snapshot = new HostSnapshot(launch.Mesh, []);
        Seats = [.. launch.Config.Pools.Select(pool => new PoolSeat(pool.Pool, pool.Listen,
            new MemberCertificate(store, pool.CertificateName(launch.IntegratorId), trust, launch.Time, certificateLogger)))];
        // The border rules for a request that came from each pool, built once.
        _scopes = Seats.ToDictionary(
            seat => seat.Name,
            seat => RouteScope.Mesh.With(new NotBackInto(seat.Name, Id)).With(new ExportedOnly(launch.Config.Export, Id)),
            StringComparer.Ordinal);
    }

    public string Id => _launch.IntegratorId;

    public MemberRole Role => MemberRole.Integrator;

    public HostSnapshot Current => _snapshot;

    public IReadOnlyList<PoolSeat> Seats { get; }

    public ILocalExecutor? Local => null;

    public RouteScope Scope(Arrival arrival) => _scopes[arrival.Seat.Name];

    /// <summary>Every model this integrator carries requests to for members of the seat's pool, as the members behind it describe them.</summary>
    public IEnumerable<ModelInfo> Models(PoolSeat seat)
    {
        var seen = new HashSet<(string, string, string)>();
        foreach (var other in Seats.Where(s => s != seat))
        {
            foreach (var member in other.Snapshot.Members.Where(m => !m.IsSelf && MemberReach.InReach(m.Status)))
            {
                var routes = (member.Routes?.Routes ?? []).Where(r => !r.Pools.Contains(seat.Name)).Select(r => r.Model);
                foreach (var model in (member.Models?.Models ?? []).Concat(routes))
                {
                    if (Border.BorderRoutes.Exported(model, _launch.Config.Export) && seen.Add((model.Id, model.Node, model.Backend)))
                    {
                        yield return model;
                    }
                }
            }
        }
    }

    public void Dispose()
    {
        foreach (var seat in Seats)
        {
            seat.Dispose();
        }
    }
}
