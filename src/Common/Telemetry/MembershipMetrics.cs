using System.Diagnostics.Metrics;
using LlmRouter.Common.Gossip;
using LlmRouter.Common.Membership;
using LlmRouter.Common.Pipeline;
using LlmRouter.V1;

namespace LlmRouter.Common.Telemetry;

/// <summary>
/// Membership as metrics, per pool the process has a seat in (one for a node, one per border for an
/// integrator): members by state as this process sees them, and its own suspicions, refutations, deaths,
/// gossip messages and bytes in and out, push-pull exchanges and refused updates by reason. Read when an
/// exporter collects, from each membership's counts (<see cref="MembershipStatistics"/>) and its
/// snapshot: gossip's state machine writes nothing for metrics on its own path.
/// </summary>
internal sealed class MembershipMetrics
{
    private static readonly (MemberStatus Status, string Name)[] States =
        [(MemberStatus.Alive, "alive"), (MemberStatus.Suspect, "suspect"), (MemberStatus.Dead, "dead"), (MemberStatus.Left, "left")];

    private static readonly (RefusalReason Reason, string Name)[] Reasons =
    [
        (RefusalReason.Malformed, "malformed"), (RefusalReason.ForgedOrigin, "forged_origin"), (RefusalReason.BadSignature, "bad_signature"),
        (RefusalReason.ImpersonatesSelf, "impersonates_self"), (RefusalReason.ForeignPool, "foreign_pool"), (RefusalReason.Certificate, "certificate"),
        (RefusalReason.AccusationAhead, "accusation_ahead"), (RefusalReason.RecordRules, "record_rules"), (RefusalReason.CannotRefute, "cannot_refute"),
    ];

    private readonly MeshMeter _meter;
    private readonly IRouterHost _host;

    public MembershipMetrics(MeshMeter meter, IRouterHost host)
    {
        _meter = meter;
        _host = host;
        var m = meter.Meter;
        m.CreateObservableGauge("llmrouter.members", MembersByState, "{member}",
            "Members of each pool by state (alive, suspect, dead, left) as this process sees them, itself included");
        m.CreateObservableCounter("llmrouter.membership.suspicions", () => PerPool(s => s.Suspicions), "{suspicion}",
            "Times this process marked a member suspect (its own probe failed, or it accepted another's accusation)");
        m.CreateObservableCounter("llmrouter.membership.refutations", () => PerPool(s => s.Refutations), "{refutation}",
            "Times this process refuted news of its own suspicion or death");
        m.CreateObservableCounter("llmrouter.membership.deaths", () => PerPool(s => s.Deaths), "{death}",
            "Times this process marked a member dead (members that left are not counted)");
        m.CreateObservableCounter("llmrouter.gossip.messages", () => PerDirection(s => s.MessagesReceived, s => s.MessagesSent), "{message}",
            "Membership messages (probes, gossip, push-pull, join, leave) by direction (in, out)");
        m.CreateObservableCounter("llmrouter.gossip.bytes", () => PerDirection(s => s.BytesReceived, s => s.BytesSent), "By",
            "Bytes of membership messages (their protobuf size) by direction (in, out)");
        m.CreateObservableCounter("llmrouter.gossip.push_pulls", () => PerPool(s => s.PushPulls), "{exchange}",
            "Push-pull exchanges of full state, started or answered by this process");
        m.CreateObservableCounter("llmrouter.gossip.refused", RefusedByReason, "{update}",
            "Gossiped updates and records this process refused, by reason (bad_signature, forged_origin, record_rules, ...)");
    }

    private IEnumerable<(PoolSeat Seat, MembershipStatistics Statistics)> Memberships()
    {
        foreach (var seat in _host.Seats)
        {
            if (seat.Membership is { } membership)
            {
                yield return (seat, membership.Statistics);
            }
        }
    }

    private IEnumerable<Measurement<long>> MembersByState()
    {
        foreach (var seat in _host.Seats)
        {
            var members = seat.Snapshot.Members;
            foreach (var (status, name) in States)
            {
                var count = 0;
                for (var i = 0; i < members.Count; i++)
                {
                    count += members[i].Status == status ? 1 : 0;
                }

                yield return new(count, _meter.Node, new("llmrouter.pool", seat.Name), new("llmrouter.member.state", name));
            }
        }
    }

    private IEnumerable<Measurement<long>> PerPool(Func<MembershipStatistics, long> read) =>
        Memberships().Select(m => new Measurement<long>(read(m.Statistics), _meter.Node, new("llmrouter.pool", m.Seat.Name)));

    private IEnumerable<Measurement<long>> PerDirection(Func<MembershipStatistics, long> received, Func<MembershipStatistics, long> sent)
    {
        foreach (var (seat, statistics) in Memberships())
        {
            yield return new(received(statistics), _meter.Node, new("llmrouter.pool", seat.Name), new("llmrouter.direction", "in"));
            yield return new(sent(statistics), _meter.Node, new("llmrouter.pool", seat.Name), new("llmrouter.direction", "out"));
        }
    }

    private IEnumerable<Measurement<long>> RefusedByReason()
    {
        foreach (var (seat, statistics) in Memberships())
        {
            foreach (var (reason, name) in Reasons)
            {
                yield return new(statistics.RefusedFor(reason), _meter.Node, new("llmrouter.pool", seat.Name), new("llmrouter.reason", name));
            }
        }
    }
}
