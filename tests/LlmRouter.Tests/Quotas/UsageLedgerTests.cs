using LlmRouter.Common.Quotas;

namespace LlmRouter.Tests.Quotas;

/// <summary>
/// The usage CRDT: readings of a slot merge the same whatever their order and however often they arrive, a later
/// window replaces an earlier one, and a ledger's mesh total is the sum of every member's latest reading.
/// </summary>
public sealed class UsageLedgerTests
{
    private static readonly DateTimeOffset Noon = new(2026, 11, 30, 12, 0, 10, TimeSpan.Zero);

    [Fact]
    public void Merge_AnyOrderAnyRepeats_GivesTheLatestReading()
    {
        for (var seed = 0; seed < 200; seed++)
        {
            var random = new Random(seed);
            var member = new UsageLedger("m");
            var readings = new List<UsageSlot>();
            var now = Noon;
            for (var step = 0; step < 30; step++)
            {
                // Mostly within one minute, sometimes into the next one (and its day's counts go on).
                now = now.AddSeconds(random.Next(0, 8));
                member.Add(random.Next(2) == 0 ? "a" : "b", new UsageCounts(1, random.Next(0, 100), random.Next(0, 50), random.Next(0, 1000)), now);
                readings.Add(member.Own(now));
            }

            var delivered = readings.Concat(readings.Where(_ => random.Next(3) == 0)).OrderBy(_ => random.Next()).ToList();
            var merged = delivered.Aggregate(UsageSlot.Merge);
            var latest = readings[^1];

            Assert.Equal(latest.Minute, merged.Minute);
            Assert.Equal(latest.Day, merged.Day);
            Assert.Equal(latest.MinuteCounts.OrderBy(p => p.Key), merged.MinuteCounts.OrderBy(p => p.Key));
            Assert.Equal(latest.DayCounts.OrderBy(p => p.Key), merged.DayCounts.OrderBy(p => p.Key));
        }
    }

    [Fact]
    public void Total_SumsEveryMembersSlot_OnlyInTheCurrentWindows()
    {
        var a = new UsageLedger("a");
        var b = new UsageLedger("b");
        a.Add("team", new UsageCounts(2, 10, 20, 300), Noon);
        b.Add("team", new UsageCounts(3, 1, 2, 30), Noon);
        b.Add("other", new UsageCounts(5, 0, 0, 0), Noon);
        a.Merge(b.Own(Noon));
        a.Merge(b.Own(Noon));
        a.Merge(a.Own(Noon) with { Member = "a", MinuteCounts = new Dictionary<string, UsageCounts> { ["team"] = new(99, 0, 0, 0) } });

        // Members: whose admissions the sum is (one per member slot).
        Assert.Equal((new UsageCounts(5, 11, 22, 330, Members: 2), new UsageCounts(5, 11, 22, 330, Members: 2)), a.Total("team", Noon));

        // A minute later the minute's counts start again; the day's stay.
        var later = Noon.AddMinutes(1);
        Assert.Equal((UsageCounts.Zero, new UsageCounts(5, 11, 22, 330, Members: 2)), a.Total("team", later));
        a.Add("team", new UsageCounts(1, 0, 0, 0), later);
        Assert.Equal(new UsageCounts(1, 0, 0, 0, Members: 1), a.Total("team", later).Minute);
        Assert.Equal(6, a.Total("team", later).Day.Requests);
    }

    [Fact]
    public void Record_RoundTripsTheSlot_AndTheRulesRefuseWhatAMemberCouldNotHaveWritten()
    {
        var ledger = new UsageLedger("a");
        ledger.Add("team", new UsageCounts(2, 10, 20, 300), Noon);
        ledger.Add("other", new UsageCounts(1, 0, 0, 0), Noon);
        var record = UsageRecords.ToRecord(ledger.Own(Noon), 7);

        Assert.Null(Rules(record, "a"));
        var slot = UsageRecords.FromRecord(record);
        Assert.Equal((ledger.Own(Noon).Minute, ledger.Own(Noon).Day), (slot.Minute, slot.Day));
        Assert.Equal(ledger.Own(Noon).MinuteCounts.OrderBy(p => p.Key), slot.MinuteCounts.OrderBy(p => p.Key));

        Assert.Contains("records describe only itself", Rules(record, "b"), StringComparison.Ordinal);
        var twice = record.Clone();
        twice.MinuteUsage.Add(twice.MinuteUsage[0]);
        Assert.Contains("twice", Rules(twice, "a"), StringComparison.Ordinal);
        var huge = record.Clone();
        huge.DayUsage[0].Requests = ulong.MaxValue;
        Assert.Contains("counts more than", Rules(huge, "a"), StringComparison.Ordinal);
    }

    private static string? Rules(LlmRouter.V1.UsageRecord record, string signer) => LlmRouter.Common.Gossip.RecordRules.Usage(record, signer);

    [Fact]
    public void Windows_PushbackIsTheTimeToTheNextWindow()
    {
        Assert.Equal(TimeSpan.FromSeconds(50), UsageWindows.UntilNextMinute(Noon));
        Assert.Equal(TimeSpan.FromHours(12) - TimeSpan.FromSeconds(10), UsageWindows.UntilNextDay(Noon));
        Assert.Equal(UsageWindows.At(Noon).Minute + 1, UsageWindows.At(Noon + UsageWindows.UntilNextMinute(Noon)).Minute);
    }
}
