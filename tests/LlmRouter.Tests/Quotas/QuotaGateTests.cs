using Grpc.Core;
using LlmRouter.Common.Configuration;
using LlmRouter.Common.Quotas;
using Microsoft.Extensions.Time.Testing;

namespace LlmRouter.Tests.Quotas;

/// <summary>A tenant's quotas against the usage the ledger knows: each limit refuses with its name and when it frees.</summary>
public sealed class QuotaGateTests
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 30, 12, 0, 15, TimeSpan.Zero));

    private static TenantConfig Tenant(TenantLimits limits) => TenantConfig.Open("team") with { Limits = limits };

    /// <summary>A gate on a member of a mesh of <paramref name="members"/>, with usage taking a second to spread.</summary>
    private QuotaGate Gate(UsageLedger ledger, long members = 1, double draw = 0) => new(ledger, _time, () => members, TimeSpan.FromSeconds(1), () => draw);

    [Fact]
    public void RequestsPerMinute_CountsTheMesh_AndFreesWithTheNextMinute()
    {
        var ledger = new UsageLedger("a");
        var gate = Gate(ledger);
        var tenant = Tenant(TenantLimits.None with { RequestsPerMinute = 3 });
        var peer = new UsageLedger("b");
        peer.Add("team", new UsageCounts(2, 0, 0, 0), _time.GetUtcNow());
        ledger.Merge(peer.Own(_time.GetUtcNow()));

        gate.Admit(tenant, "mesh.yaml").Dispose();
        var refused = Assert.Throws<RpcException>(() => gate.Admit(tenant, "mesh.yaml"));

        Assert.Equal(StatusCode.ResourceExhausted, refused.StatusCode);
        Assert.Contains("requests_per_minute (3; 3 requests this minute across the mesh)", refused.Status.Detail, StringComparison.Ordinal);
        Assert.Contains("tenants[team].limits.requests_per_minute in mesh.yaml", refused.Status.Detail, StringComparison.Ordinal);
        Assert.Equal("45000", refused.Trailers.GetValue("grpc-retry-pushback-ms"));

        _time.Advance(TimeSpan.FromSeconds(45));
        gate.Admit(tenant, "mesh.yaml").Dispose();
    }

    [Fact]
    public void Tokens_RefusedOnceUsedUp_BudgetUntilTheNextDay()
    {
        var gate = Gate(new UsageLedger("a"));
        var tenant = Tenant(TenantLimits.None with { OutputTokensPerMinute = 100, BudgetPerDayUsd = 0.5m });

        Answer(gate.Admit(tenant, "m"), 10, 60, 0.25m);
        _time.Advance(TimeSpan.FromSeconds(1.1));
        Answer(gate.Admit(tenant, "m"), 10, 40, 0.25m);

        var tokens = Assert.Throws<RpcException>(() => gate.Admit(tenant, "m"));
        Assert.Contains("output_tokens_per_minute (100; 100 output tokens", tokens.Status.Detail, StringComparison.Ordinal);
        _time.Advance(TimeSpan.FromMinutes(1));
        var budget = Assert.Throws<RpcException>(() => gate.Admit(tenant, "m"));
        Assert.Contains("budget_per_day_usd (0.5; 0.5 spent today", budget.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(((long)(TimeSpan.FromHours(12) - TimeSpan.FromSeconds(76.1)).TotalMilliseconds).ToString(System.Globalization.CultureInfo.InvariantCulture),
            budget.Trailers.GetValue("grpc-retry-pushback-ms"));
    }

    [Fact]
    public void ConcurrentStreams_ExactOnThisNode_FreedWhenAStreamEnds()
    {
        var gate = Gate(new UsageLedger("a"));
        var tenant = Tenant(TenantLimits.None with { ConcurrentStreams = 2 });

        var first = gate.Admit(tenant, "m");
        using var second = gate.Admit(tenant, "m");
        Assert.Contains("concurrent_streams (2, a cap per node)", Assert.Throws<RpcException>(() => gate.Admit(tenant, "m")).Status.Detail, StringComparison.Ordinal);

        first.Dispose();
        first.Dispose();
        using var third = gate.Admit(tenant, "m");
        Assert.Throws<RpcException>(() => gate.Admit(tenant, "m"));
    }

    [Fact]
    public void Share_ANewcomerTakesItsShareOfTheWholeMesh_ThenTheMeshsHeadroomOnceKnown()
    {
        // A mesh of 4, a cap of 100: a member that just began sending admits a quarter of the headroom per spread.
        var gate = Gate(new UsageLedger("a"), members: 4);
        var tenant = Tenant(TenantLimits.None with { RequestsPerMinute = 100 });
        var admitted = Admitted(gate, tenant, 200);
        Assert.Equal(25, admitted);

        var paced = Assert.Throws<RpcException>(() => gate.Admit(tenant, "mesh.yaml"));
        Assert.Equal(StatusCode.ResourceExhausted, paced.StatusCode);
        Assert.Contains("near its requests_per_minute (25 of 100 requests this minute across the mesh); this node admits its share, 25 requests as one of the 4 members sending, per 1 s", paced.Status.Detail, StringComparison.Ordinal);
        Assert.Contains("raise tenants[team].limits.requests_per_minute in mesh.yaml", paced.Status.Detail, StringComparison.Ordinal);
        // When the oldest of its recent admissions leaves the spread (counted by sixteenths of it, never early).
        Assert.InRange(long.Parse(paced.Trailers.GetValue("grpc-retry-pushback-ms")!, System.Globalization.CultureInfo.InvariantCulture), 1000, 1063);

        // A spread later the others know it sends, and it knows no one else does: the whole headroom is its share.
        _time.Advance(TimeSpan.FromSeconds(1.1));
        Assert.Equal(75, Admitted(gate, tenant, 200));
        Assert.Contains("at its requests_per_minute (100; 100 requests", Assert.Throws<RpcException>(() => gate.Admit(tenant, "m")).Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Share_SplitAmongTheMembersKnownToSend()
    {
        var ledger = new UsageLedger("a");
        var gate = Gate(ledger, members: 10);
        var tenant = Tenant(TenantLimits.None with { RequestsPerMinute = 100 });
        Assert.Equal(10, Admitted(gate, tenant, 50));
        _time.Advance(TimeSpan.FromSeconds(1.1));

        // Two others send too: 100 - 10 - 20 = 70 left. Just heard of, they began within the last spread, and as many
        // may begin in the next one unheard of: room is left for them (five shares) until they have been known a spread.
        foreach (var other in new[] { "b", "c" })
        {
            var peer = new UsageLedger(other);
            peer.Add("team", new UsageCounts(10, 0, 0, 0), _time.GetUtcNow());
            ledger.Merge(peer.Own(_time.GetUtcNow()));
        }

        Assert.Equal((0L, 0L, 5L), gate.Share("team"));
        Assert.Equal(14, Admitted(gate, tenant, 50));
        _time.Advance(TimeSpan.FromSeconds(1.1));

        // Shared by three now: (70 - 14 + 0 recent) / 3.
        Assert.Equal(18, Admitted(gate, tenant, 50));
        Assert.Equal((0L, 18L, 3L), gate.Share("team"));
    }

    [Fact]
    public void Share_RoomForNewcomers_FollowsHowManyBeganInTheLastSpread()
    {
        var ledger = new UsageLedger("a");
        var gate = Gate(ledger, members: 100);
        var tenant = Tenant(TenantLimits.None with { RequestsPerMinute = 1000 });
        gate.Admit(tenant, "m").Dispose();
        _time.Advance(TimeSpan.FromSeconds(1.1));
        Assert.Equal(1, gate.Share("team").Sharing);

        // Members begin one after another, one every 0.25 s: about four began within any spread.
        for (var i = 0; i < 12; i++)
        {
            var peer = new UsageLedger("b" + i);
            peer.Add("team", new UsageCounts(0, 0, 0, 0, Asked: 1), _time.GetUtcNow());
            ledger.Merge(peer.Own(_time.GetUtcNow()));
            var sharing = gate.Share("team").Sharing;
            Assert.InRange(sharing - (i + 2), Math.Min(i + 1, 4), Math.Min(i + 1, 5));
            _time.Advance(TimeSpan.FromSeconds(0.25));
        }

        // Then no one new: after a spread, only the members sending and itself.
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(13, gate.Share("team").Sharing);
        Assert.Equal(13, gate.Share("team").Sharing);
    }

    [Fact]
    public void Share_UnderOneRequest_IsOneDrawPerSpread()
    {
        // A cap of 3 among 10 members: each may admit 0.3 of a request per spread, as one draw.
        var tenant = Tenant(TenantLimits.None with { RequestsPerMinute = 3 });
        var lucky = Gate(new UsageLedger("a"), members: 10, draw: 0.29);
        Assert.Equal(1, Admitted(lucky, tenant, 5));
        var unlucky = Gate(new UsageLedger("b"), members: 10, draw: 0.31);
        Assert.Equal(0, Admitted(unlucky, tenant, 5));
        _time.Advance(TimeSpan.FromSeconds(0.5));
        Assert.Equal(0, Admitted(unlucky, tenant, 5));
    }

    [Fact]
    public void Tokens_UntilOneRequestEnded_OneAtATime_ThenPacedByWhatARequestUses()
    {
        var gate = Gate(new UsageLedger("a"), members: 1);
        var tenant = Tenant(TenantLimits.None with { OutputTokensPerMinute = 1000 });
        var first = gate.Admit(tenant, "m");
        var waiting = Assert.Throws<RpcException>(() => gate.Admit(tenant, "m"));
        Assert.Contains("none of its requests has used anything yet", waiting.Status.Detail, StringComparison.Ordinal);
        Assert.Contains("tenants[team].limits.output_tokens_per_minute", waiting.Status.Detail, StringComparison.Ordinal);
        Answer(first, 10, 100, 0);

        // 900 tokens left at 100 a request: nine more, counting those still in flight.
        var open = Enumerable.Range(0, 9).Select(_ => gate.Admit(tenant, "m")).ToList();
        Assert.Contains("near its output_tokens_per_minute (100 of 1000 output tokens this minute across the mesh)",
            Assert.Throws<RpcException>(() => gate.Admit(tenant, "m")).Status.Detail, StringComparison.Ordinal);
        open.ForEach(r => Answer(r, 10, 50, 0));
        // Asked: marked once in the minute, however many were admitted or refused.
        Assert.Equal(new UsageCounts(10, 100, 550, 0, Ended: 10, Members: 1, Charged: 10, Asked: 1), gate.Ledger.Total("team", _time.GetUtcNow()).Minute);
    }

    [Fact]
    public async Task Admit_ConcurrentCallers_NeverPastTheCap()
    {
        var gate = Gate(new UsageLedger("a"));
        var tenant = Tenant(TenantLimits.None with { RequestsPerMinute = 10 });
        using var start = new ManualResetEventSlim();
        var callers = Enumerable.Range(0, 30).Select(_ => Task.Run(() =>
        {
            start.Wait();
            return Admitted(gate, tenant, 1);
        })).ToList();
        start.Set();

        Assert.Equal(10, (await Task.WhenAll(callers)).Sum());
    }

    [Fact]
    public void Tokens_RequestsEndedWithoutUsage_TellNothingOfWhatOneCosts()
    {
        var gate = Gate(new UsageLedger("a"));
        var tenant = Tenant(TenantLimits.None with { OutputTokensPerMinute = 1000 });

        // Failed before any text: ended, not charged, so still one at a time.
        gate.Admit(tenant, "m").Dispose();
        using var open = gate.Admit(tenant, "m");
        Assert.Contains("none of its requests has used anything yet", Assert.Throws<RpcException>(() => gate.Admit(tenant, "m")).Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Tokens_RequestsStillInFlightFromTheMinuteBefore_AreReserved()
    {
        var gate = Gate(new UsageLedger("a"));
        var tenant = Tenant(TenantLimits.None with { OutputTokensPerMinute = 1000 });
        Answer(gate.Admit(tenant, "m"), 0, 100, 0);
        _time.Advance(TimeSpan.FromSeconds(1.1));
        var previous = Enumerable.Range(0, 9).Select(_ => gate.Admit(tenant, "m")).ToList();

        // The next minute: 1000 tokens again, but the nine still in flight will use about 900 of them.
        _time.Advance(TimeSpan.FromSeconds(50));
        var next = gate.Admit(tenant, "m");
        Assert.Contains("near its output_tokens_per_minute (0 of 1000 output tokens", Assert.Throws<RpcException>(() => gate.Admit(tenant, "m")).Status.Detail, StringComparison.Ordinal);
        previous.Append(next).ToList().ForEach(r => r.Dispose());
    }

    [Fact]
    public void Share_AMemberThatSentLastMinute_StillCountsAfterItsSlotTurned()
    {
        var ledger = new UsageLedger("a");
        var peer = new UsageLedger("b");
        peer.Add("team", new UsageCounts(5, 0, 0, 0), _time.GetUtcNow());
        ledger.Merge(peer.Own(_time.GetUtcNow()));
        _time.Advance(TimeSpan.FromMinutes(1));

        // b's slot of the new minute has nothing for the tenant yet (only its day counts): b still sends.
        ledger.Merge(peer.Own(_time.GetUtcNow()));
        Assert.Equal(1, ledger.ActiveOthers("team", _time.GetUtcNow()));
        _time.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(0, ledger.ActiveOthers("team", _time.GetUtcNow()));
    }

    [Fact]
    public void Share_AMemberOnlyRefusedSoFar_IsCountedAsSendingByTheOthers()
    {
        // b was asked for the tenant's requests and refused them all (its share not drawn): a still shares with it.
        var peer = Gate(new UsageLedger("b"), members: 10, draw: 0.99);
        var tenant = Tenant(TenantLimits.None with { RequestsPerMinute = 3 });
        Assert.Equal(0, Admitted(peer, tenant, 3));
        var ledger = new UsageLedger("a");
        ledger.Merge(peer.Ledger.Own(_time.GetUtcNow()));

        Assert.Equal(1, ledger.ActiveOthers("team", _time.GetUtcNow()));
        Assert.Equal(1, ledger.Total("team", _time.GetUtcNow()).Minute.Asked);
    }

    [Fact]
    public void Refusals_MarkTheMinuteOnce_SoTheSlotDoesNotChangeWithEachOne()
    {
        // A tenant far over its cap: refusal after refusal leaves the slot gossip carries as it was.
        var gate = Gate(new UsageLedger("a"), members: 10, draw: 0.99);
        var tenant = Tenant(TenantLimits.None with { RequestsPerMinute = 3 });
        Assert.Equal(0, Admitted(gate, tenant, 1));
        var published = UsageRecords.ToRecord(gate.Ledger.Own(_time.GetUtcNow()), 0);
        _time.Advance(TimeSpan.FromSeconds(0.5));
        Assert.Equal(0, Admitted(gate, tenant, 50));
        Assert.Equal(published, UsageRecords.ToRecord(gate.Ledger.Own(_time.GetUtcNow()), 0));

        // The next minute is marked again, once.
        _time.Advance(TimeSpan.FromMinutes(1));
        Admitted(gate, tenant, 5);
        Assert.Equal(1, gate.Ledger.Total("team", _time.GetUtcNow()).Minute.Asked);
        Assert.Equal(2, gate.Ledger.Total("team", _time.GetUtcNow()).Day.Asked);
    }

    [Fact]
    public void Refusals_ByAUsedUpLimit_AlsoMarkTheMemberAsSending()
    {
        // The mesh used the cap before this member's first request of the minute: refused at once, yet sending.
        var ledger = new UsageLedger("a");
        var peer = new UsageLedger("b");
        peer.Add("team", new UsageCounts(3, 0, 0, 0), _time.GetUtcNow());
        ledger.Merge(peer.Own(_time.GetUtcNow()));
        var gate = Gate(ledger, members: 2);
        Assert.Contains("at its requests_per_minute", Assert.Throws<RpcException>(() => gate.Admit(Tenant(TenantLimits.None with { RequestsPerMinute = 3 }), "m")).Status.Detail, StringComparison.Ordinal);

        Assert.Equal(1, ledger.Own(_time.GetUtcNow()).MinuteCounts["team"].Asked);
    }

    [Fact]
    public void Ledger_AClockReadBeforeTheMinuteTurned_CountsInTheNewMinute()
    {
        // Two callers: one read the clock just before the turn and adds after the other started the new minute.
        var ledger = new UsageLedger("a");
        var turn = new DateTimeOffset(2026, 11, 30, 12, 1, 0, TimeSpan.Zero);
        ledger.Add("team", new UsageCounts(1, 0, 0, 0), turn.AddMilliseconds(1));
        ledger.Add("team", new UsageCounts(1, 0, 0, 0), turn.AddMilliseconds(-1));

        Assert.Equal(2, ledger.Total("team", turn.AddMilliseconds(2)).Minute.Requests);
    }

    [Fact]
    public void Ledger_APoolSumStartingItsMinuteOver_StillCountsTheMembersOfTheMinuteBefore()
    {
        var ledger = new UsageLedger("a");
        var now = _time.GetUtcNow();
        var windows = UsageWindows.At(now);
        UsageSlot Pool(long minute, long members) => new("pool:b", minute, windows.Day,
            new Dictionary<string, UsageCounts> { ["team"] = new(members, 0, 0, 0, Members: members, Asked: members) },
            new Dictionary<string, UsageCounts> { ["team"] = new(members, 0, 0, 0, Members: members, Asked: members) });
        ledger.Merge(Pool(windows.Minute, 50), new SlotSource("b", false));
        Assert.Equal(50, ledger.ActiveOthers("team", now));

        // The next minute's sum has heard from one member so far: the fifty still send.
        _time.Advance(TimeSpan.FromMinutes(1));
        ledger.Merge(Pool(windows.Minute + 1, 1), new SlotSource("b", false));
        Assert.Equal(50, ledger.ActiveOthers("team", _time.GetUtcNow()));
    }

    private static int Admitted(QuotaGate gate, TenantConfig tenant, int tries)
    {
        var admitted = 0;
        for (var i = 0; i < tries; i++)
        {
            try
            {
                gate.Admit(tenant, "mesh.yaml").Dispose();
                admitted++;
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.ResourceExhausted)
            {
            }
        }

        return admitted;
    }

    private static void Answer(QuotaGate.Admitted request, long input, long output, decimal spend)
    {
        request.Used(input, output, spend);
        request.Dispose();
    }
}
