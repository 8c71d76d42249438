using System.Globalization;
using Grpc.Core;
using LlmRouter.Common.Configuration;

namespace LlmRouter.Common.Quotas;

/// <summary>
/// A tenant's quotas at the entry hop (DESIGN.md section 13): requests, input and output tokens per minute and
/// spend per day against the mesh's usage as the ledger knows it, and concurrent streams exactly on this member.
///
/// Two checks. The hard one: a limit the mesh has used up refuses. The paced one bounds what gossip's delay can let
/// through: every member may have admitted for up to <c>spread</c> (the time usage takes to reach every member)
/// without the others knowing, so each admits within any such interval at most its share, <c>B / M</c>, of the
/// headroom <c>B</c> (what is left of the limit beyond what every member surely knows) among the <c>M</c> members
/// sending the tenant's requests. Shares add up to the headroom, so with usage spreading within <c>spread</c> the
/// mesh stays within the limit (docs/access.md has the bound). A share under one request is a chance: once per
/// spread, the member admits one request with that probability, so the mesh admits the headroom on average rather
/// than one request per member. A member counts as sending once it is asked for the tenant's requests (admitted or
/// refused: the others see it in its slot); one that just began is not yet counted by the others, so until its
/// first request has had <c>spread</c> to travel it takes the share of one member in all the mesh's, and the members
/// counted leave room for as many such newcomers as began within the last spread.
///
/// Token and spend limits are paced in requests: what is left over what one request of the tenant has used on
/// average (over its requests whose usage was counted), less the requests still in flight. Until one of the
/// tenant's requests has used anything (nothing known of what a request costs), each member has at most one of its
/// requests in flight. The requests in flight are counted over the day (one may end, and use its tokens, in a later
/// minute than it began).
///
/// A refusal is RESOURCE_EXHAUSTED naming the limit, what the mesh used, the setting, and when to retry (also as
/// <c>grpc-retry-pushback-ms</c>).
/// </summary>
internal sealed class QuotaGate(UsageLedger ledger, TimeProvider time, Func<long> meshMembers, TimeSpan spread, Func<double> random)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Pace> _paces = new(StringComparer.Ordinal);

    public UsageLedger Ledger => ledger;

    /// <summary>How long usage takes to reach every member, the interval each member's share is counted over.</summary>
    public TimeSpan Spread => spread;

    /// <summary>Admits one request of the tenant or throws the refusal; record its usage on the result and dispose it when the request ends.</summary>
    public Admitted Admit(TenantConfig tenant, string meshFile)
    {
        var limits = tenant.Limits;
        if (limits == TenantLimits.None)
        {
            // Nothing to hold: the request is only counted (Admin Usage shows every tenant's usage).
            return Counted(tenant.Name, time.GetUtcNow());
        }

        // One admission at a time: the clock, the totals read, the checks, and the count that the next admission reads.
        lock (_lock)
        {
            var now = time.GetUtcNow();
            var timestamp = time.GetTimestamp();
            var pace = PaceOf(tenant.Name);
            // Marked once a minute, not counted per request: a tenant sending ten times its cap would otherwise
            // change every member's slot with each refusal, and gossip would carry the refusals' churn instead of usage.
            var asked = pace.Asked(timestamp, UsageWindows.At(now).Minute) ? 1 : 0;
            var (minute, day) = ledger.Total(tenant.Name, now);
            try
            {
                Check(tenant, meshFile, "requests_per_minute", limits.RequestsPerMinute, minute.Requests + 1, minute.Requests, UsageWindows.UntilNextMinute(now), "requests");
                Check(tenant, meshFile, "input_tokens_per_minute", limits.InputTokensPerMinute, minute.InputTokens, minute.InputTokens, UsageWindows.UntilNextMinute(now), "input tokens", atLimit: true);
                Check(tenant, meshFile, "output_tokens_per_minute", limits.OutputTokensPerMinute, minute.OutputTokens, minute.OutputTokens, UsageWindows.UntilNextMinute(now), "output tokens", atLimit: true);
                if (limits.BudgetPerDayUsd is { } budget && day.SpendMicroUsd >= MicroUsd(budget))
                {
                    throw Exhausted(UsageWindows.UntilNextDay(now),
                        $"tenant '{tenant.Name}' spent its budget_per_day_usd ({budget.ToString(CultureInfo.InvariantCulture)}; {Usd(day.SpendMicroUsd)} spent today across the mesh)",
                        tenant, meshFile, "budget_per_day_usd");
                }

                if (limits.ConcurrentStreams is { } streams && pace.Open >= streams)
                {
                    throw Exhausted(TimeSpan.FromSeconds(1),
                        $"tenant '{tenant.Name}' has {pace.Open} requests open on this node, its concurrent_streams ({streams.ToString(CultureInfo.InvariantCulture)}, a cap per node)",
                        tenant, meshFile, "concurrent_streams");
                }

                PaceShare(tenant, meshFile, pace, minute, day, now, timestamp);
            }
            catch (RpcException)
            {
                // Refused, yet asked: the others count this member among those sending the tenant's requests.
                if (asked > 0)
                {
                    ledger.Add(tenant.Name, new UsageCounts(0, 0, 0, 0, Asked: asked), now);
                }

                throw;
            }

            pace.Admitted(timestamp, BucketTicks);
            ledger.Add(tenant.Name, new UsageCounts(1, 0, 0, 0, Asked: asked), now);
        }

        return new Admitted(this, tenant.Name);
    }

    /// <summary>Admits a request of a tenant without limits: counted in this member's slot and among its open streams.</summary>
    private Admitted Counted(string tenant, DateTimeOffset now)
    {
        lock (_lock)
        {
            PaceOf(tenant).Open++;
        }

        ledger.Add(tenant, new UsageCounts(1, 0, 0, 0), now);
        return new Admitted(this, tenant);
    }

    /// <summary>The tenant's pacing state, made on its first request (call under the lock).</summary>
    private Pace PaceOf(string tenant)
    {
        if (!_paces.TryGetValue(tenant, out var pace))
        {
            pace = new Pace();
            _paces[tenant] = pace;
        }

        return pace;
    }

    /// <summary>The tenant's pacing on this member (the Admin API, tests): its streams open, its admissions within the spread, and the members its share is counted among.</summary>
    public (long Open, long Recent, long Sharing) Share(string tenant)
    {
        lock (_lock)
        {
            var now = time.GetUtcNow();
            var timestamp = time.GetTimestamp();
            if (!_paces.TryGetValue(tenant, out var pace))
            {
                return (0, 0, Math.Max(ledger.ActiveOthers(tenant, now) + 1, meshMembers()));
            }

            return (pace.Open, pace.Recent(timestamp, SpreadTicks, BucketTicks), Sharing(tenant, pace, now, timestamp));
        }
    }

    private long SpreadTicks => (long)(spread.TotalSeconds * time.TimestampFrequency);

    private long BucketTicks => Math.Max(1, SpreadTicks / 16);

    /// <summary>
    /// The members this one's share is counted among. Before its own sending has had the spread to become known: all
    /// the mesh's members (the others do not leave it room yet). After: those known to be sending and itself, and as
    /// many again as began sending within the last spread, room for the members beginning now that no one counts
    /// yet (each takes a share of the whole mesh for its first spread beside the shares of the members counted).
    /// </summary>
    private long Sharing(string tenant, Pace pace, DateTimeOffset now, long timestamp)
    {
        var others = ledger.ActiveOthers(tenant, now);
        var joined = pace.Joined(timestamp, others, SpreadTicks);
        var known = pace.ActiveSince is { } since && time.GetElapsedTime(since, timestamp) >= spread;
        var mesh = Math.Max(others + 1, meshMembers());
        // Never more than the mesh: room for newcomers beyond every member would only slow the tenant.
        return known ? Math.Min(others + 1 + joined, mesh) : mesh;
    }

    private void PaceShare(TenantConfig tenant, string meshFile, Pace pace, UsageCounts minute, UsageCounts day, DateTimeOffset now, long timestamp)
    {
        pace.Learn(minute, day);
        if (Headroom(tenant.Limits, pace, minute, day) is not { } headroom)
        {
            return;
        }

        if (headroom.Requests is null)
        {
            // Nothing is known yet of what one of the tenant's requests uses: one at a time on this member.
            if (pace.Open > 0)
            {
                throw Exhausted(spread / 4,
                    $"tenant '{tenant.Name}' has its {headroom.Setting} set and none of its requests has used anything yet, so what one uses is not known; this node admits one at a time until then",
                    tenant, meshFile, headroom.Setting);
            }

            return;
        }

        var recent = pace.Recent(timestamp, SpreadTicks, BucketTicks);
        var sharing = Sharing(tenant.Name, pace, now, timestamp);
        var share = (headroom.Requests.Value + recent) / sharing;
        var admitted = headroom.Requests.Value > 0 && (share >= 1 ? recent + 1 <= share : recent == 0 && Draw(pace, share, timestamp));
        if (!admitted)
        {
            var frees = pace.OldestRecent(timestamp, SpreadTicks, BucketTicks) is { } oldest
                ? spread - time.GetElapsedTime(oldest, timestamp)
                : spread;
            throw Exhausted(frees < TimeSpan.FromMilliseconds(1) ? TimeSpan.FromMilliseconds(1) : frees,
                $"tenant '{tenant.Name}' is near its {headroom.Setting} ({headroom.Describe}); this node admits its share, {Math.Max(0, share).ToString("0.##", CultureInfo.InvariantCulture)} requests as one of the {sharing.ToString(CultureInfo.InvariantCulture)} members sending, per {spread.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture)} s",
                tenant, meshFile, headroom.Setting);
        }
    }

    /// <summary>A share under one request: one draw per spread, won with the share's probability.</summary>
    private bool Draw(Pace pace, double share, long timestamp)
    {
        if (pace.DrawnAt is { } drawn && time.GetElapsedTime(drawn, timestamp) < spread)
        {
            return false;
        }

        pace.DrawnAt = timestamp;
        return random() < share;
    }

    /// <summary>What is left of the tightest limit, in requests (null Requests: a token or spend limit whose request cost is not known yet); null when nothing is limited.</summary>
    private static Left? Headroom(TenantLimits limits, Pace pace, UsageCounts minute, UsageCounts day)
    {
        Left? tightest = null;
        void Consider(Left left)
        {
            if (tightest is null || (tightest.Requests is not null && (left.Requests is null || left.Requests < tightest.Requests)))
            {
                tightest = left;
            }
        }

        if (limits.RequestsPerMinute is { } requests)
        {
            Consider(new Left("requests_per_minute", requests - minute.Requests,
                $"{minute.Requests.ToString(CultureInfo.InvariantCulture)} of {requests.ToString(CultureInfo.InvariantCulture)} requests this minute across the mesh"));
        }

        // Requests in flight are counted over the day: one admitted in the minute before ends (and uses) in this one.
        if (limits.InputTokensPerMinute is { } input)
        {
            Consider(Spent("input_tokens_per_minute", input, minute.InputTokens, pace.InputPerRequest, day.InFlight, "input tokens this minute"));
        }

        if (limits.OutputTokensPerMinute is { } output)
        {
            Consider(Spent("output_tokens_per_minute", output, minute.OutputTokens, pace.OutputPerRequest, day.InFlight, "output tokens this minute"));
        }

        if (limits.BudgetPerDayUsd is { } budget)
        {
            Consider(Spent("budget_per_day_usd", MicroUsd(budget), day.SpendMicroUsd, pace.SpendPerRequest, day.InFlight, "millionths of a dollar today"));
        }

        return tightest;
    }

    private static Left Spent(string setting, long cap, long used, double? perRequest, long inFlight, string what)
    {
        var describe = $"{used.ToString(CultureInfo.InvariantCulture)} of {cap.ToString(CultureInfo.InvariantCulture)} {what} across the mesh";
        return perRequest switch
        {
            null => new Left(setting, null, describe),
            <= 0 => new Left(setting, double.PositiveInfinity, describe),
            { } mean => new Left(setting, ((cap - used) / mean) - inFlight, describe),
        };
    }

    private static long MicroUsd(decimal usd) => (long)decimal.Round(usd * 1_000_000m, MidpointRounding.AwayFromZero);

    private static string Usd(long microUsd) => (microUsd / 1_000_000m).ToString("0.######", CultureInfo.InvariantCulture);

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
            $"{what}: retry in {(milliseconds / 1000.0).ToString("0.###", CultureInfo.InvariantCulture)} s, or raise tenants[{tenant.Name}].limits.{setting} in {meshFile}"), trailers);
    }

    /// <summary>A request ended: its usage (when it had some) is counted in this member's slot, and its place among the open ones freed.</summary>
    private void Ended(string tenant, long inputTokens, long outputTokens, decimal spendUsd, bool charged)
    {
        ledger.Add(tenant, new UsageCounts(0, inputTokens, outputTokens, MicroUsd(spendUsd), Ended: 1, Charged: charged ? 1 : 0), time.GetUtcNow());
        lock (_lock)
        {
            if (_paces.TryGetValue(tenant, out var pace))
            {
                pace.Open--;
            }
        }
    }

    /// <summary>What is left of one limit, in requests (null when what one request uses is not known yet).</summary>
    private sealed record Left(string Setting, double? Requests, string Describe);

    /// <summary>One tenant's pacing on this member: its requests open, its recent admissions, and what one of its requests uses on average.</summary>
    private sealed class Pace
    {
        private readonly LinkedList<(long Bucket, long Count)> _recent = new();
        private readonly LinkedList<(long At, long Others)> _senders = new();
        private long _lastMinute;

        public long Open { get; set; }

        /// <summary>When this member last drew for a share under one request.</summary>
        public long? DrawnAt { get; set; }

        /// <summary>When this member was first asked for the tenant's requests in its current run (a run ends after a minute without one).</summary>
        public long? ActiveSince { get; private set; }

        public double? InputPerRequest { get; private set; }

        public double? OutputPerRequest { get; private set; }

        public double? SpendPerRequest { get; private set; }

        /// <summary>
        /// The member was asked for one of the tenant's requests: it is sending them, and the others count it once its
        /// asking has had the spread to reach them. A run ends when it was asked for none in the previous minute (the
        /// others no longer count it then).
        /// </summary>
        /// <returns>Whether this is its first ask in this minute (its slot marks the minute as asked once).</returns>
        public bool Asked(long timestamp, long minute)
        {
            if (ActiveSince is not null && minute > _lastMinute + 1)
            {
                ActiveSince = null;
                _senders.Clear();
            }

            var first = ActiveSince is null || minute != _lastMinute;
            ActiveSince ??= timestamp;
            _lastMinute = minute;
            return first;
        }

        /// <summary>
        /// Keeps what one request uses on average, over the requests whose usage was counted (one that failed before
        /// any text says nothing of what a request costs), from whichever window has some; kept across windows.
        /// </summary>
        public void Learn(UsageCounts minute, UsageCounts day)
        {
            var source = minute.Charged > 0 ? minute : day;
            if (source.Charged > 0)
            {
                InputPerRequest = (double)source.InputTokens / source.Charged;
                OutputPerRequest = (double)source.OutputTokens / source.Charged;
            }

            if (day.Charged > 0)
            {
                SpendPerRequest = (double)day.SpendMicroUsd / day.Charged;
            }
        }

        /// <summary>
        /// How many more other members send now (<paramref name="others"/>) than at the fewest within the last spread:
        /// those that began sending within it, as far as this member has heard. Kept as the counts seen when asked,
        /// each from when it was first seen; the one in effect when the spread began stays as its baseline.
        /// </summary>
        public long Joined(long timestamp, long others, long spreadTicks)
        {
            if (_senders.Last is not { } last || last.Value.Others != others)
            {
                _senders.AddLast((timestamp, others));
            }

            while (_senders.First?.Next is { } second && second.Value.At <= timestamp - spreadTicks)
            {
                _senders.RemoveFirst();
            }

            return Math.Max(0, others - _senders.Min(s => s.Others));
        }

        public void Admitted(long timestamp, long bucketTicks)
        {
            Open++;
            var bucket = timestamp / bucketTicks;
            if (_recent.Last is { } last && last.Value.Bucket == bucket)
            {
                last.ValueRef.Count++;
            }
            else
            {
                _recent.AddLast((bucket, 1));
            }
        }

        /// <summary>Admissions within the last spread (by buckets of a sixteenth of it, counted whole: never fewer than there were).</summary>
        public long Recent(long timestamp, long spreadTicks, long bucketTicks)
        {
            Trim(timestamp, spreadTicks, bucketTicks);
            return _recent.Sum(r => r.Count);
        }

        /// <summary>When the oldest recent admissions were made, at the latest (the end of their bucket): a spread later they no longer count.</summary>
        public long? OldestRecent(long timestamp, long spreadTicks, long bucketTicks)
        {
            Trim(timestamp, spreadTicks, bucketTicks);
            return _recent.First is { } first ? (first.Value.Bucket + 1) * bucketTicks : null;
        }

        private void Trim(long timestamp, long spreadTicks, long bucketTicks)
        {
            while (_recent.First is { } first && (first.Value.Bucket + 1) * bucketTicks <= timestamp - spreadTicks)
            {
                _recent.RemoveFirst();
            }
        }
    }

    /// <summary>An admitted request: record what it used, then dispose it when it ends (counted once).</summary>
    internal sealed class Admitted(QuotaGate gate, string tenant) : IDisposable
    {
        private int _ended;
        private long _input;
        private long _output;
        private decimal _spend;
        private bool _charged;

        /// <summary>The request's usage (as its answer reported it, or as estimated from its text), and its price.</summary>
        public void Used(long inputTokens, long outputTokens, decimal spendUsd)
        {
            _input = inputTokens;
            _output = outputTokens;
            _spend = spendUsd;
            _charged = true;
        }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _ended, 1) == 0)
            {
                gate.Ended(tenant, _input, _output, _spend, _charged);
            }
        }
    }
}
