using LlmRouter.Common.Forwarding;
using LlmRouter.Common.Gossip;
using LlmRouter.Common.Identity;
using LlmRouter.Common.Pipeline;
using LlmRouter.Common.Resilience;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace LlmRouter.Common.Membership;

/// <summary>
/// Starts the host's membership in every pool it has a seat in (one for a node, one per border for an
/// integrator) once its listeners are up, and joins each pool through its seeds: SWIM over gRPC with
/// mutual TLS on the host's one channel cache, signed with the seat's certificate (and re-announced when it
/// rotates). A member that comes back has its breakers forgotten. <see cref="Joining"/> lets the host
/// publish its own records (a node's models) before it joins, so the join carries them.
/// </summary>
internal sealed partial class SeatMemberships(
    IRouterHost host,
    MeshTrust trust,
    SeedResolver seedResolver,
    PeerChannels channels,
    CopyBreakers breakers,
    IServer server,
    Func<double> random,
    TimeProvider time,
    ILogger<SeatMemberships> logger) : IHostedLifecycleService, IDisposable
{
    /// <summary>Raised on a seat's membership executor just before it joins its pool.</summary>
    public event Action<PoolSeat, SwimMembership>? Joining;

    /// <summary>Whether every seat's membership has started.</summary>
    public bool Started { get; private set; }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StartedAsync(CancellationToken cancellationToken)
    {
        var mesh = host.Current.Mesh;
        foreach (var seat in host.Seats)
        {
            if (seat.Listen.Port == 0 && BoundAddress() is { } bound)
            {
                seat.Address = bound;
            }

            var own = new[] { seat.Address, seat.Listen.ToString().TrimEnd('/') };
            var seeds = (await seedResolver.ResolveAsync(seat.Name, cancellationToken).ConfigureAwait(false))
                .Where(seed => !own.Contains(seed, StringComparer.OrdinalIgnoreCase))
                .ToList();
            var membership = new PoolMembership(
                new LocalMember(host.Id, seat.Address, seat.Name, host.Role, seat.Certificate.Current.RawData),
                mesh.Name,
                mesh.Gossip.Options(),
                trust.Authority,
                seat.Certificate.Current,
                seeds,
                channels,
                random,
                time,
                logger);
            membership.Changed += change =>
            {
                if (change.Kind is MemberEventKind.Joined or MemberEventKind.Alive && !change.Member.IsSelf)
                {
                    breakers.Forget(change.Member.Id);
                }
            };
            seat.Certificate.Rotated += membership.Rotate;
            seat.Membership = membership;
            membership.Start(state => Joining?.Invoke(seat, state));
            LogStarted(logger, host.Id, seat.Name, seat.Address, mesh.Gossip.Preset, seeds.Count);
        }

        Started = true;
    }

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken)
    {
        Dispose();
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        foreach (var seat in host.Seats)
        {
            seat.Membership?.Dispose();
        }
    }

    /// <summary>The one bound listener of a host that listened on port 0 (tests), as members dial it.</summary>
    private string? BoundAddress() =>
        host.Seats.Count == 1 && server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault() is { } bound
            ? bound.Replace("[::]", "127.0.0.1", StringComparison.Ordinal).TrimEnd('/')
            : null;

    [LoggerMessage(EventId = 4001, Level = LogLevel.Information, Message = "Membership of {Host} in pool {Pool} started at {Address} ({Preset} preset), {Seeds} seed(s)")]
    private static partial void LogStarted(ILogger logger, string host, string pool, string address, string preset, int seeds);
}
