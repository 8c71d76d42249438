using LlmRouter.Common.Gossip;
using LlmRouter.Common.Quotas;
using LlmRouter.Simulation;
using LlmRouter.V1;

namespace LlmRouter.Tests.Quotas;

/// <summary>
/// Usage travels: records reach every member of a pool through gossip, only an integrator relays what lies
/// beyond a border, and a pool's sum reported by two integrators (or echoed back) counts once.
/// </summary>
public sealed class UsageSpreadTests
{
    private static readonly TimeSpan Step = TimeSpan.FromMilliseconds(100);
    private static readonly DateTimeOffset Noon = new(2026, 11, 30, 12, 0, 10, TimeSpan.Zero);

    [Fact]
    public void Records_ReachEveryMember_NewestPerOriginKept()
    {
        var network = new SimulatedNetwork(seed: 21, MembershipOptions.Lan);
        var members = network.AddPool(8);
        network.Clock.RunUntil(() => members.All(m => m.Membership.Count == 8), TimeSpan.FromSeconds(10), Step);
        var ledgers = members.ToDictionary(m => m.Id, m => new UsageLedger(m.Id, [network.Pool]));
        foreach (var member in members)
        {
            member.Membership.UsageReceived += (record, role) => ledgers[member.Id].Receive(record, network.Pool, role, Noon);
        }

        ledgers["m3"].Add("team", new UsageCounts(4, 0, 0, 0), Noon);
        members[3].Membership.PublishUsage(UsageRecords.ToRecord(ledgers["m3"].Own(Noon), 0));
        ledgers["m3"].Add("team", new UsageCounts(3, 0, 0, 0), Noon);
        members[3].Membership.PublishUsage(UsageRecords.ToRecord(ledgers["m3"].Own(Noon), 0));

        var spread = network.Clock.RunUntil(() => ledgers.Values.All(l => l.Total("team", Noon).Minute.Requests == 7), TimeSpan.FromSeconds(5), Step);
        Assert.NotNull(spread);
        Assert.True(spread < LlmRouter.Common.Configuration.GossipSettings.Default.QuotaSpread(), $"usage took {spread} to reach 8 members");
    }

    [Fact]
    public void Relaying_IsForIntegratorsOnly()
    {
        var network = new SimulatedNetwork(seed: 22, MembershipOptions.Lan);
        var members = network.AddPool(3);
        network.Clock.RunUntil(() => members.All(m => m.Membership.Count == 3), TimeSpan.FromSeconds(10), Step);
        var heard = new List<UsageRecord>();
        members[0].Membership.UsageReceived += (record, _) => heard.Add(record);

        var relayed = new UsageRecord { Member = "m2", Sequence = 1, Origin = "pool:elsewhere", Members = 50 };
        members[2].Gossip(members[0], new InsecureSigner("m2").Sign(new Update { Usage = relayed }));
        network.Clock.RunFor(TimeSpan.FromSeconds(1));

        Assert.Empty(heard);
        Assert.Contains("only an integrator relays usage", members[0].Membership.Statistics.LastRejection, StringComparison.Ordinal);
        Assert.Throws<InvalidOperationException>(() => members[2].Membership.PublishUsage(relayed));
    }

    [Fact]
    public void Restart_EachLifeIsASlot_AndARelayNeverOverridesWhatAMemberSaidItself()
    {
        var a1 = new UsageLedger("a1", ["a"]);
        var before = new UsageLedger("a2", ["a"], boot: 1000);
        before.Add("team", new UsageCounts(4, 0, 0, 40), Noon);
        a1.Receive(UsageRecords.Own(before, Noon), "a", MemberRole.Node, Noon);
        var after = new UsageLedger("a2", ["a"], boot: 2000);
        after.Add("team", new UsageCounts(3, 0, 0, 30), Noon);
        a1.Receive(UsageRecords.Own(after, Noon), "a", MemberRole.Node, Noon);
        Assert.Equal((7L, 70L), (a1.Total("team", Noon).Day.Requests, a1.Total("team", Noon).Day.SpendMicroUsd));

        // An integrator relaying a2's later life with other counts: a2's own word stands.
        var forged = after.Own(Noon) with { MinuteCounts = new Dictionary<string, UsageCounts>(), DayCounts = new Dictionary<string, UsageCounts>() };
        a1.Receive(UsageRecords.ToRecord(forged with { Minute = forged.Minute, Day = forged.Day }, 3, "i1", "member:" + UsageLedger.SlotKey("a2", 2000), 1), "a", MemberRole.Integrator, Noon);
        var inflated = UsageRecords.ToRecord(after.Own(Noon), 4, "i1", "member:" + UsageLedger.SlotKey("a2", 2000), 1);
        inflated.DayUsage[0].Requests = 999;
        a1.Receive(inflated, "a", MemberRole.Integrator, Noon);
        Assert.Equal(7, a1.Total("team", Noon).Day.Requests);
    }

    [Fact]
    public void PoolSums_FromTwoIntegrators_CountOnce_AndAPoolsOwnSumIsIgnored()
    {
        // Pool a: node a1 and integrators i1, i2, both also in pool b, where b1 and b2 sent 5 and 6 requests.
        var i1 = new UsageLedger("i1", ["a", "b"]);
        var b1 = new UsageLedger("b1", ["b"]);
        var b2 = new UsageLedger("b2", ["b"]);
        b1.Add("team", new UsageCounts(5, 0, 0, 0), Noon);
        b2.Add("team", new UsageCounts(6, 0, 0, 0), Noon);
        i1.Receive(UsageRecords.ToRecord(b1.Own(Noon), 1), "b", MemberRole.Node, Noon);
        i1.Receive(UsageRecords.ToRecord(b2.Own(Noon), 1), "b", MemberRole.Node, Noon);
        i1.Add("team", new UsageCounts(1, 0, 0, 0), Noon);

        var intoA = i1.Relayed("a", _ => 2, Noon);
        var sum = Assert.Single(intoA);
        Assert.Equal(("pool:b", 2L), (sum.Origin, sum.Members));
        Assert.Equal(11, sum.Slot.MinuteCounts["team"].Requests);

        // a1 hears the sum from i1 and an older one from i2, and i1's own slot: 11 + 1, once.
        var a1 = new UsageLedger("a1", ["a"]);
        a1.Receive(UsageRecords.ToRecord(sum.Slot, 4, "i1", sum.Origin, sum.Members), "a", MemberRole.Integrator, Noon);
        var older = sum.Slot with { MinuteCounts = new Dictionary<string, UsageCounts> { ["team"] = new(9, 0, 0, 0) } };
        a1.Receive(UsageRecords.ToRecord(older, 2, "i2", sum.Origin, sum.Members), "a", MemberRole.Integrator, Noon);
        a1.Receive(UsageRecords.ToRecord(i1.Own(Noon), 5), "a", MemberRole.Integrator, Noon);
        Assert.Equal(12, a1.Total("team", Noon).Minute.Requests);
        Assert.Equal(2, a1.RemoteMembers);

        // A sum of a pool the receiver sits in is its own members' slots already: ignored.
        var b3 = new UsageLedger("b3", ["b"]);
        b3.Receive(UsageRecords.ToRecord(sum.Slot, 6, "i1", "pool:b", 2), "b", MemberRole.Integrator, Noon);
        Assert.Equal(0, b3.Total("team", Noon).Minute.Requests);

        // A reading of a window ahead of the receiver's clock (by more than one) would hide the pool's real sum: refused.
        var ahead = UsageRecords.ToRecord(sum.Slot with { Minute = sum.Slot.Minute + 2 }, 7, "i2", sum.Origin, sum.Members);
        Assert.False(a1.Receive(ahead, "a", MemberRole.Integrator, Noon));
        Assert.Equal(12, a1.Total("team", Noon).Minute.Requests);

        // Into pool b, i1 carries nothing of b back; a's node slots and i1's own are counted natively there.
        Assert.DoesNotContain(i1.Relayed("b", _ => 1, Noon), r => r.Origin == "pool:b");
    }

    [Theory]
    [InlineData("requests", false, 1)]
    [InlineData("requests", true, 2)]
    [InlineData("budget", false, 3)]
    public void Simulated_TenMembersSendingAtTenTimesTheCap_AdmitTheCapAndNoMore(string limit, bool warm, int seed)
    {
        // Virtual time: the figures are exact on any machine. The pacing keeps the mesh within the cap (a draw may
        // win a request or two past it) and lets the tenant reach it.
        var outcome = QuotaSimulation.Run(10, limit, cap: 300, offeredPerSecond: 50, seed, warm: warm);

        Assert.InRange(outcome.Admitted, 300, 306);
        Assert.NotNull(outcome.CapReachedSeconds);
    }
}
