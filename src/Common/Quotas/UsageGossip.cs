using LlmRouter.Common.Gossip;
using LlmRouter.Common.Membership;
using LlmRouter.Common.Pipeline;
using LlmRouter.V1;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace LlmRouter.Common.Quotas;

/// <summary>
/// Carries usage through the mesh (DESIGN.md section 13): every seat's membership hands the usage records it
/// receives to the ledger, and this host publishes its own slot into each of its pools as soon as it changed (at
/// most once per gossip interval), and again now and then so members that joined later hear it
/// (<see cref="UsagePublication"/>). An integrator
/// also publishes, into each pool, what it knows of the others (<see cref="UsageLedger.Relayed"/>), so a tenant's
/// quota holds across every border.
/// </summary>
internal sealed class UsageGossip(IRouterHost host, UsageLedger ledger, SeatMemberships memberships, TimeProvider time) : IHostedService, IDisposable
{
    private readonly UsagePublication _published = new(time);
    private readonly Lock _publishing = new();
    private ITimer? _timer;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        memberships.Joining += (seat, state) => state.UsageReceived += (record, role) => ledger.Receive(record, seat.Name, role, time.GetUtcNow());
        var interval = host.Current.Mesh.Gossip.Options().GossipInterval;
        _timer = time.CreateTimer(_ => Publish(), null, interval, interval);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        Dispose();
        return Task.CompletedTask;
    }

    public void Dispose() => _timer?.Dispose();

    /// <summary>Members that may admit a tenant's requests: this host's pools' members alive, and those beyond the borders the integrators count.</summary>
    public static long MeshMembers(IRouterHost host, UsageLedger ledger) =>
        host.Seats.SelectMany(seat => seat.Snapshot.Members).Where(m => m.Status is MemberStatus.Alive or MemberStatus.Suspect).Select(m => m.Id).Distinct().Count()
        + ledger.RemoteMembers;

    /// <summary>
    /// One tick of the timer. Ticks may overlap (a timer does not wait for its callback: on a loaded machine the first
    /// ones, still being compiled, took longer than the 200 ms interval and two wrote what was published at once,
    /// which ended the process); a tick that finds the previous one still running leaves the publishing to it.
    /// </summary>
    private void Publish()
    {
        if (!_publishing.TryEnter())
        {
            return;
        }

        try
        {
            PublishChanged();
        }
        finally
        {
            _publishing.Exit();
        }
    }

    private void PublishChanged()
    {
        var now = time.GetUtcNow();
        ledger.Prune(now);
        var own = ledger.Own(now);
        foreach (var seat in host.Seats)
        {
            if (seat.Membership is not { } membership)
            {
                continue;
            }

            var records = new List<UsageRecord>();
            if (own.MinuteCounts.Count > 0 || own.DayCounts.Count > 0)
            {
                records.Add(UsageRecords.Own(ledger, now));
            }

            if (host.Role == MemberRole.Integrator)
            {
                // A pool's sum goes out even while it is empty: it tells the members how many there are beyond the
                // border, whose share of a quota a member that begins sending must leave them.
                records.AddRange(ledger.Relayed(seat.Name, pool => PoolNodes(pool), now)
                    .Where(r => r.Origin.StartsWith("pool:", StringComparison.Ordinal) || r.Slot.MinuteCounts.Count > 0 || r.Slot.DayCounts.Count > 0)
                    .Select(r => UsageRecords.ToRecord(r.Slot, 0, host.Id, r.Origin, r.Members)));
            }

            var members = seat.Snapshot.Members.Count(m => m.Status is MemberStatus.Alive or MemberStatus.Suspect);
            var due = records.Where(record => _published.Due(seat.Name + "\u001f" + record.Origin, record, members)).ToList();
            if (due.Count > 0)
            {
                membership.Post(state => due.ForEach(state.PublishUsage));
            }
        }
    }

    /// <summary>The nodes of a pool this integrator sits in, alive as it sees them.</summary>
    private int PoolNodes(string pool) =>
        host.Seats.FirstOrDefault(s => string.Equals(s.Name, pool, StringComparison.Ordinal))?.Snapshot.Members
            .Count(m => m.Role == MemberRole.Node && m.Status is MemberStatus.Alive or MemberStatus.Suspect) ?? 0;
}

/// <summary>Quotas wired once for nodes and integrators: the ledger, the gate the pipeline asks, and the gossip that feeds them.</summary>
internal static class QuotaHosting
{
    public static IServiceCollection AddMeshQuotas(this IServiceCollection services)
    {
        services.AddSingleton(provider =>
        {
            var host = provider.GetRequiredService<IRouterHost>();
            return new UsageLedger(host.Id, host.Seats.Select(s => s.Name).ToList(), (ulong)provider.GetRequiredService<TimeProvider>().GetUtcNow().ToUnixTimeMilliseconds());
        });
        services.AddSingleton(provider =>
        {
            var host = provider.GetRequiredService<IRouterHost>();
            var ledger = provider.GetRequiredService<UsageLedger>();
            return new QuotaGate(ledger, provider.GetRequiredService<TimeProvider>(), () => UsageGossip.MeshMembers(host, ledger),
                host.Current.Mesh.Gossip.QuotaSpread(), provider.GetRequiredService<Func<double>>());
        });
        services.AddSingleton<UsageGossip>();
        services.AddHostedService(provider => provider.GetRequiredService<UsageGossip>());
        return services;
    }
}
