using System.Globalization;
using Grpc.Core;
using LlmRouter.Common.Configuration;

namespace LlmRouter.Common.Quotas;

/// <summary>
/// A tenant's quotas at the entry hop (DESIGN.md section 13): requests, input and output tokens per minute and
/// spend per day against the mesh's usage as the ledger knows it, and concurrent streams exactly on this member.
/// A request is counted when it is admitted (so its count spreads at once); its tokens and spend when it ends.
/// Tokens and spend cannot be known before the answer, so a request is refused only once they are used up.
/// A refusal is RESOURCE_EXHAUSTED naming the limit, what the mesh used, the setting, and when the window frees
/// (also as <c>grpc-retry-pushback-ms</c>).
/// </summary>
internal sealed class QuotaGate(UsageLedger ledger, TimeProvider time)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, int> _streams = new(StringComparer.Ordinal);

    /// <summary>Admits one request of the tenant or throws the refusal; dispose the result when the request ends.</summary>
    public Admitted Admit(TenantConfig tenant, string meshFile)
    {
        var limits = tenant.Limits;
        var now = time.GetUtcNow();
        var (minute, day) = ledger.Total(tenant.Name, now);
        Check(tenant, meshFile, "requests_per_minute", limits.RequestsPerMinute, minute.Requests + 1, minute.Requests, UsageWindows.UntilNextMinute(now), "requests");
        Check(tenant, meshFile, "input_tokens_per_minute", limits.InputTokensPerMinute, minute.InputTokens, minute.InputTokens, UsageWindows.UntilNextMinute(now), "input tokens", atLimit: true);
        Check(tenant, meshFile, "output_tokens_per_minute", limits.OutputTokensPerMinute, minute.OutputTokens, minute.OutputTokens, UsageWindows.UntilNextMinute(now), "output tokens", atLimit: true);
        if (limits.BudgetPerDayUsd is { } budget && day.SpendMicroUsd >= MicroUsd(budget))
        {
            throw Exhausted(UsageWindows.UntilNextDay(now),
                $"tenant '{tenant.Name}' spent its budget_per_day_usd ({budget.ToString(CultureInfo.InvariantCulture)}; {(day.SpendMicroUsd / 1_000_000m).ToString("0.######", CultureInfo.InvariantCulture)} spent today across the mesh)",
                tenant, meshFile, "budget_per_day_usd");
        }

        if (limits.ConcurrentStreams is { } streams)
        {
            lock (_lock)
            {
                var open = _streams.GetValueOrDefault(tenant.Name);
                if (open >= streams)
                {
                    throw Exhausted(TimeSpan.FromSeconds(1),
                        $"tenant '{tenant.Name}' has {open} streams open on this node, its concurrent_streams ({streams.ToString(CultureInfo.InvariantCulture)}, a cap per node)",
                        tenant, meshFile, "concurrent_streams");
                }

                _streams[tenant.Name] = open + 1;
            }
        }

        ledger.Add(tenant.Name, new UsageCounts(1, 0, 0, 0), now);
        return new Admitted(this, tenant.Name, limits.ConcurrentStreams is not null);
    }

    /// <summary>The usage of an answered request (its tokens, and their price), counted in this member's slot.</summary>
    public void Used(string tenant, long inputTokens, long outputTokens, decimal spendUsd) =>
        ledger.Add(tenant, new UsageCounts(0, inputTokens, outputTokens, MicroUsd(spendUsd)), time.GetUtcNow());

    private static long MicroUsd(decimal usd) => (long)decimal.Round(usd * 1_000_000m, MidpointRounding.AwayFromZero);

    private static void Check(TenantConfig tenant, string meshFile, string setting, long? limit, long wouldBe, long used, TimeSpan frees, string what, bool atLimit = false)
    {
        if (limit is { } cap && (atLimit ? wouldBe >= cap : wouldBe > cap))
        {
            throw Exhausted(frees, $"tenant '{tenant.Name}' is at its {setting} ({cap.ToString(CultureInfo.InvariantCulture)}; {used.ToString(CultureInfo.InvariantCulture)} {what} this minute across the mesh)",
                tenant, meshFile, setting);
        }
    }

    private static RpcException Exhausted(TimeSpan frees, string what, TenantConfig tenant, string meshFile, string setting)
    {
        var milliseconds = Math.Max(1, (long)Math.Ceiling(frees.TotalMilliseconds));
        var trailers = new Metadata { { Protocol.RouterMetadata.RetryPushback, milliseconds.ToString(CultureInfo.InvariantCulture) } };
        return new RpcException(new Status(StatusCode.ResourceExhausted,
            $"{what}: retry in {frees.TotalSeconds.ToString("0.#", CultureInfo.InvariantCulture)} s, or raise tenants[{tenant.Name}].limits.{setting} in {meshFile}"), trailers);
    }

    private void Release(string tenant)
    {
        lock (_lock)
        {
            var open = _streams.GetValueOrDefault(tenant) - 1;
            if (open <= 0)
            {
                _streams.Remove(tenant);
            }
            else
            {
                _streams[tenant] = open;
            }
        }
    }

    /// <summary>An admitted request: disposing it frees its stream slot (once).</summary>
    internal sealed class Admitted(QuotaGate gate, string tenant, bool holdsStream) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (holdsStream && Interlocked.Exchange(ref _released, 1) == 0)
            {
                gate.Release(tenant);
            }
        }
    }
}
