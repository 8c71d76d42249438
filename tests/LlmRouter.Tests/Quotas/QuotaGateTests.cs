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

    [Fact]
    public void RequestsPerMinute_CountsTheMesh_AndFreesWithTheNextMinute()
    {
        var ledger = new UsageLedger("a");
        var gate = new QuotaGate(ledger, _time);
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
        var gate = new QuotaGate(new UsageLedger("a"), _time);
        var tenant = Tenant(TenantLimits.None with { OutputTokensPerMinute = 100, BudgetPerDayUsd = 0.5m });

        gate.Admit(tenant, "m").Dispose();
        gate.Used("team", 10, 99, 0.25m);
        gate.Admit(tenant, "m").Dispose();
        gate.Used("team", 10, 1, 0.25m);

        var tokens = Assert.Throws<RpcException>(() => gate.Admit(tenant, "m"));
        Assert.Contains("output_tokens_per_minute (100; 100 output tokens", tokens.Status.Detail, StringComparison.Ordinal);
        _time.Advance(TimeSpan.FromMinutes(1));
        var budget = Assert.Throws<RpcException>(() => gate.Admit(tenant, "m"));
        Assert.Contains("budget_per_day_usd (0.5; 0.5 spent today", budget.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(((long)(TimeSpan.FromHours(12) - TimeSpan.FromSeconds(75)).TotalMilliseconds).ToString(System.Globalization.CultureInfo.InvariantCulture),
            budget.Trailers.GetValue("grpc-retry-pushback-ms"));
    }

    [Fact]
    public void ConcurrentStreams_ExactOnThisNode_FreedWhenAStreamEnds()
    {
        var gate = new QuotaGate(new UsageLedger("a"), _time);
        var tenant = Tenant(TenantLimits.None with { ConcurrentStreams = 2 });

        var first = gate.Admit(tenant, "m");
        using var second = gate.Admit(tenant, "m");
        Assert.Contains("concurrent_streams (2, a cap per node)", Assert.Throws<RpcException>(() => gate.Admit(tenant, "m")).Status.Detail, StringComparison.Ordinal);

        first.Dispose();
        first.Dispose();
        using var third = gate.Admit(tenant, "m");
        Assert.Throws<RpcException>(() => gate.Admit(tenant, "m"));
    }
}
