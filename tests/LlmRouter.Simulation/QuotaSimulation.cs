using Grpc.Core;
using LlmRouter.Common.Configuration;
using LlmRouter.Common.Gossip;
using LlmRouter.Common.Quotas;

namespace LlmRouter.Simulation;

/// <summary>What a tenant's quota let through in one simulated window.</summary>
/// <param name="Cap">The limit: requests in the minute, or requests the day's budget pays for.</param>
/// <param name="Offered">Requests the members received from the tenant in the window.</param>
/// <param name="Admitted">Requests the members admitted in the window.</param>
/// <param name="CapReachedSeconds">When the mesh had admitted the cap (seconds into the window), if it did.</param>
public sealed record QuotaOutcome(int Members, string Limit, long Cap, long Offered, long Admitted, double? CapReachedSeconds)
{
    public double OverCap => (double)(Admitted - Cap) / Cap;
}

/// <summary>
/// A tenant's quota over a simulated pool (DESIGN.md section 13): real <see cref="SwimMembership"/>s carry every
/// member's usage records (published as <c>UsageGossip</c> does: when changed, at most once per gossip interval, and
/// repeated as <see cref="UsagePublication"/> says), and each member's real <see cref="QuotaGate"/> admits the tenant's requests against its
/// <see cref="UsageLedger"/>, in virtual time. The tenant sends from every member at once (or from one), from the
/// window's first instant (cold) or already through the whole minute before it (warm: every member is counted as
/// sending when the window turns), and what was admitted in the window is counted against the cap.
/// </summary>
public static class QuotaSimulation
{
    private static readonly TimeSpan Latency = TimeSpan.FromMilliseconds(400);

    /// <param name="limit">"requests": requests_per_minute = cap; "budget": budget_per_day_usd paying for cap requests of 1000 input tokens at $1 per million.</param>
    /// <param name="offeredPerSecond">The tenant's requests per second, over all the members sending.</param>
    /// <param name="senders">How many members the tenant sends to (all when null).</param>
    /// <param name="warm">The tenant sends through the minute before the window too (requests per minute only).</param>
    /// <param name="spread">The gates' <c>gossip.usage_spread</c> (by default the LAN preset's, 2 s).</param>
    public static QuotaOutcome Run(int members, string limit, long cap, double offeredPerSecond, int seed, int? senders = null, bool warm = false, TimeSpan? spread = null)
    {
        var network = new SimulatedNetwork(seed, MembershipOptions.Lan);
        var pool = network.AddPool(members);
        network.Clock.RunUntil(() => pool.All(m => m.Membership.Count == members), TimeSpan.FromMinutes(5), TimeSpan.FromMilliseconds(100));
        network.Clock.RunFor(TimeSpan.FromSeconds(10));

        // The window starts now (cold) or a minute from now (warm): the virtual clock then reads the first instant of a UTC minute.
        var lead = warm ? TimeSpan.FromMinutes(1) : TimeSpan.Zero;
        var windowStart = new DateTimeOffset(2026, 11, 30, 12, 0, 0, TimeSpan.Zero);
        var time = new VirtualTime(network.Clock, windowStart - lead - network.Clock.Now);
        var begin = network.Clock.Now + lead;
        var tenant = TenantConfig.Open("team") with
        {
            Limits = limit switch
            {
                "requests" => TenantLimits.None with { RequestsPerMinute = (int)cap },
                "budget" => TenantLimits.None with { BudgetPerDayUsd = cap / 1000m },
                _ => throw new ArgumentException($"unknown limit '{limit}' (requests or budget)", nameof(limit)),
            },
        };

        var random = new Random(seed);
        var admitted = new List<TimeSpan>();
        long offered = 0;
        var sending = pool.Take(senders ?? members).ToList();
        var perMember = offeredPerSecond / sending.Count;
        var usageSpread = spread ?? GossipSettings.Default.QuotaSpread();
        foreach (var member in pool)
        {
            var ledger = new UsageLedger(member.Id, [network.Pool]);
            var gate = new QuotaGate(ledger, time, () => members, usageSpread, random.NextDouble);
            member.Membership.UsageReceived += (record, role) => ledger.Receive(record, network.Pool, role, time.GetUtcNow());
            PublishEvery(member, ledger, time, new UsagePublication(time), network.Options.GossipInterval, members);
            if (!sending.Contains(member))
            {
                continue;
            }

            // Arrivals at the member's rate, from a random phase: each is admitted or refused at once.
            void Arrive()
            {
                if (network.Clock.Now - begin >= TimeSpan.FromMinutes(1))
                {
                    return;
                }

                var inWindow = network.Clock.Now >= begin;
                offered += inWindow ? 1 : 0;
                try
                {
                    var request = gate.Admit(tenant, "sim.yaml");
                    if (inWindow)
                    {
                        admitted.Add(network.Clock.Now - begin);
                    }

                    member.Schedule(Latency, () =>
                    {
                        request.Used(1000, 100, 0.001m);
                        request.Dispose();
                    });
                }
                catch (RpcException refused) when (refused.StatusCode == StatusCode.ResourceExhausted)
                {
                }

                member.Schedule(TimeSpan.FromSeconds(1 / perMember), Arrive);
            }

            member.Schedule(TimeSpan.FromSeconds(random.NextDouble() / perMember), Arrive);
        }

        network.Clock.RunFor(lead + TimeSpan.FromMinutes(1));
        var reached = admitted.Count >= cap ? admitted.Order().ElementAt((int)cap - 1).TotalSeconds : (double?)null;
        return new QuotaOutcome(members, limit, cap, offered, admitted.Count, reached);
    }

    /// <summary>Publishes the member's own slot as the hosts do: checked once per gossip interval, published when <see cref="UsagePublication"/> says it is due.</summary>
    private static void PublishEvery(SimulatedMember member, UsageLedger ledger, TimeProvider time, UsagePublication published, TimeSpan interval, int members)
    {
        member.Schedule(interval, () =>
        {
            var record = UsageRecords.ToRecord(ledger.Own(time.GetUtcNow()), 0);
            if ((record.MinuteUsage.Count > 0 || record.DayUsage.Count > 0) && published.Due("", record, members))
            {
                member.Membership.PublishUsage(record);
            }

            PublishEvery(member, ledger, time, published, interval, members);
        });
    }

    /// <summary>The virtual clock as a <see cref="TimeProvider"/>: wall time is the clock plus an offset, timestamps are its ticks.</summary>
    private sealed class VirtualTime(VirtualClock clock, DateTimeOffset offset) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => offset + clock.Now;

        public override long GetTimestamp() => clock.Now.Ticks;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;
    }
}
