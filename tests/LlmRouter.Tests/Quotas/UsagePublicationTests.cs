using LlmRouter.Common.Quotas;
using Microsoft.Extensions.Time.Testing;

namespace LlmRouter.Tests.Quotas;

/// <summary>A usage record goes out when it says something new, and is repeated within a pool-wide budget.</summary>
public sealed class UsagePublicationTests
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 30, 12, 0, 15, TimeSpan.Zero));

    [Fact]
    public void Changed_IsDue_Unchanged_RepeatedOnlyAfterItsInterval()
    {
        var ledger = new UsageLedger("a");
        var published = new UsagePublication(_time);
        ledger.Add("team", new UsageCounts(1, 0, 0, 0), _time.GetUtcNow());
        Assert.True(published.Due("pool", Record(ledger), 10));
        Assert.False(published.Due("pool", Record(ledger), 10));

        ledger.Add("team", new UsageCounts(1, 0, 0, 0), _time.GetUtcNow());
        Assert.True(published.Due("pool", Record(ledger), 10));

        _time.Advance(TimeSpan.FromSeconds(4.9));
        Assert.False(published.Due("pool", Record(ledger), 10));
        _time.Advance(TimeSpan.FromSeconds(0.1));
        Assert.True(published.Due("pool", Record(ledger), 10));

        // Each pool (key) on its own.
        Assert.True(published.Due("other", Record(ledger), 10));
    }

    [Fact]
    public void AMinuteThatTurnedWithNothingInIt_IsNoNews()
    {
        var ledger = new UsageLedger("a");
        var published = new UsagePublication(_time);
        ledger.Add("team", new UsageCounts(1, 0, 0, 0), _time.GetUtcNow());
        Assert.True(published.Due("pool", Record(ledger), 1000));

        // The new minute's slot differs (its minute), yet tells a receiver nothing it does not count already.
        _time.Advance(TimeSpan.FromMinutes(1));
        Assert.Empty(Record(ledger).MinuteUsage);
        Assert.False(published.Due("pool", Record(ledger), 1000));

        // Its first request is news.
        ledger.Add("team", new UsageCounts(1, 0, 0, 0), _time.GetUtcNow());
        Assert.True(published.Due("pool", Record(ledger), 1000));
    }

    [Theory]
    [InlineData(3, 5)]
    [InlineData(50, 5)]
    [InlineData(100, 10)]
    [InlineData(1000, 100)]
    public void Repeats_AtMostTenRecordsASecondAcrossThePool(int members, double seconds)
    {
        Assert.Equal(TimeSpan.FromSeconds(seconds), UsagePublication.RepeatAfter(members));
        Assert.True(members / UsagePublication.RepeatAfter(members).TotalSeconds <= 10);
    }

    private LlmRouter.V1.UsageRecord Record(UsageLedger ledger) => UsageRecords.ToRecord(ledger.Own(_time.GetUtcNow()), 0);
}
