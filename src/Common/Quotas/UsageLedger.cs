namespace LlmRouter.Common.Quotas;

/// <summary>
/// The windows quotas count in (DESIGN.md section 13): the minute (requests and tokens per minute) and the UTC day
/// (spend), fixed, aligned to UTC and numbered from the Unix epoch, so every member names a window alike.
/// </summary>
internal readonly record struct UsageWindows(long Minute, long Day)
{
    private const long SecondsPerMinute = 60;
    private const long SecondsPerDay = 86_400;

    public static UsageWindows At(DateTimeOffset now)
    {
        var seconds = now.ToUnixTimeSeconds();
        return new UsageWindows(seconds / SecondsPerMinute, seconds / SecondsPerDay);
    }

    /// <summary>How long until the minute window after <paramref name="now"/>'s begins (when a per-minute quota frees).</summary>
    public static TimeSpan UntilNextMinute(DateTimeOffset now) => Until(now, SecondsPerMinute);

    /// <summary>How long until the next UTC day begins (when a daily budget frees).</summary>
    public static TimeSpan UntilNextDay(DateTimeOffset now) => Until(now, SecondsPerDay);

    private static TimeSpan Until(DateTimeOffset now, long windowSeconds)
    {
        var milliseconds = now.ToUnixTimeMilliseconds();
        var windowMilliseconds = windowSeconds * 1000;
        return TimeSpan.FromMilliseconds(windowMilliseconds - (milliseconds % windowMilliseconds));
    }
}

/// <summary>What one tenant used in one window on one member. Counters only grow within a window.</summary>
/// <param name="SpendMicroUsd">Spend in millionths of a dollar (integers add and compare exactly).</param>
internal readonly record struct UsageCounts(long Requests, long InputTokens, long OutputTokens, long SpendMicroUsd)
{
    public static UsageCounts Zero => default;

    public static UsageCounts operator +(UsageCounts a, UsageCounts b) =>
        new(a.Requests + b.Requests, a.InputTokens + b.InputTokens, a.OutputTokens + b.OutputTokens, a.SpendMicroUsd + b.SpendMicroUsd);

    /// <summary>The merge of two readings of one slot: each counter's larger value (it only grows, so the larger is the later).</summary>
    public static UsageCounts Max(UsageCounts a, UsageCounts b) => new(
        Math.Max(a.Requests, b.Requests), Math.Max(a.InputTokens, b.InputTokens), Math.Max(a.OutputTokens, b.OutputTokens), Math.Max(a.SpendMicroUsd, b.SpendMicroUsd));
}

/// <summary>
/// One member's slot: its own counts per tenant for one minute and one day. The member alone writes it; everyone
/// else only merges readings of it.
/// </summary>
internal sealed record UsageSlot(string Member, long Minute, long Day, IReadOnlyDictionary<string, UsageCounts> MinuteCounts, IReadOnlyDictionary<string, UsageCounts> DayCounts)
{
    /// <summary>
    /// The merge of two readings of the slot (a state-based CRDT: commutative, associative, idempotent, so gossip
    /// may deliver readings in any order, any number of times): a later window replaces an earlier one, and within
    /// one window each tenant's counters take their maximum.
    /// </summary>
    public static UsageSlot Merge(UsageSlot a, UsageSlot b)
    {
        var (minute, minuteCounts) = MergeWindow(a.Minute, a.MinuteCounts, b.Minute, b.MinuteCounts);
        var (day, dayCounts) = MergeWindow(a.Day, a.DayCounts, b.Day, b.DayCounts);
        return new UsageSlot(a.Member, minute, day, minuteCounts, dayCounts);
    }

    private static (long Window, IReadOnlyDictionary<string, UsageCounts> Counts) MergeWindow(
        long windowA, IReadOnlyDictionary<string, UsageCounts> a, long windowB, IReadOnlyDictionary<string, UsageCounts> b)
    {
        if (windowA != windowB)
        {
            return windowA > windowB ? (windowA, a) : (windowB, b);
        }

        var merged = new Dictionary<string, UsageCounts>(a, StringComparer.Ordinal);
        foreach (var (tenant, counts) in b)
        {
            merged[tenant] = merged.TryGetValue(tenant, out var known) ? UsageCounts.Max(known, counts) : counts;
        }

        return (windowA, merged);
    }
}

/// <summary>
/// Usage of every tenant across the mesh, as this member knows it (DESIGN.md section 13): per-member slots, each a
/// grow-only counter per tenant and window that only its member increments, merged by maximum, summed for the mesh.
/// No member waits for another and there is no central store; the price is that a member sees the others' usage
/// as late as gossip brings it, so the mesh can admit past a cap by about its admit rate times that delay.
/// Thread-safe; readers get sums of immutable slots.
/// </summary>
internal sealed class UsageLedger(string self)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, UsageSlot> _others = new(StringComparer.Ordinal);
    private UsageSlot _own = new(self, 0, 0, new Dictionary<string, UsageCounts>(), new Dictionary<string, UsageCounts>());

    /// <summary>This member's slot, as it is published (the current windows at <paramref name="now"/>).</summary>
    public UsageSlot Own(DateTimeOffset now)
    {
        lock (_lock)
        {
            Roll(UsageWindows.At(now));
            return _own;
        }
    }

    /// <summary>Adds to this member's own counts for the tenant, in the windows of <paramref name="now"/>.</summary>
    public void Add(string tenant, UsageCounts counts, DateTimeOffset now)
    {
        lock (_lock)
        {
            Roll(UsageWindows.At(now));
            _own = _own with
            {
                MinuteCounts = With(_own.MinuteCounts, tenant, counts),
                DayCounts = With(_own.DayCounts, tenant, counts),
            };
        }
    }

    /// <summary>Merges a reading of another member's slot (this member's own slot is never taken from outside).</summary>
    public void Merge(UsageSlot slot)
    {
        if (string.Equals(slot.Member, self, StringComparison.Ordinal))
        {
            return;
        }

        lock (_lock)
        {
            _others[slot.Member] = _others.TryGetValue(slot.Member, out var known) ? UsageSlot.Merge(known, slot) : slot;
        }
    }

    /// <summary>Forgets a member that left: its usage in the current windows stays counted until they end.</summary>
    public void Forget(string member, DateTimeOffset now)
    {
        lock (_lock)
        {
            if (_others.TryGetValue(member, out var slot) && slot.Day < UsageWindows.At(now).Day)
            {
                _others.Remove(member);
            }
        }
    }

    /// <summary>The tenant's usage across every slot known, in the minute and the day of <paramref name="now"/>.</summary>
    public (UsageCounts Minute, UsageCounts Day) Total(string tenant, DateTimeOffset now)
    {
        var windows = UsageWindows.At(now);
        lock (_lock)
        {
            Roll(windows);
            var (minute, day) = Counted(_own, tenant, windows);
            foreach (var slot in _others.Values)
            {
                var (slotMinute, slotDay) = Counted(slot, tenant, windows);
                minute += slotMinute;
                day += slotDay;
            }

            return (minute, day);
        }
    }

    private static (UsageCounts Minute, UsageCounts Day) Counted(UsageSlot slot, string tenant, UsageWindows windows) =>
        (slot.Minute == windows.Minute ? slot.MinuteCounts.GetValueOrDefault(tenant) : UsageCounts.Zero,
         slot.Day == windows.Day ? slot.DayCounts.GetValueOrDefault(tenant) : UsageCounts.Zero);

    private static Dictionary<string, UsageCounts> With(IReadOnlyDictionary<string, UsageCounts> counts, string tenant, UsageCounts added)
    {
        var next = new Dictionary<string, UsageCounts>(counts, StringComparer.Ordinal);
        next[tenant] = next.GetValueOrDefault(tenant) + added;
        return next;
    }

    /// <summary>Starts new windows in this member's slot when the minute or the day turned.</summary>
    private void Roll(UsageWindows windows)
    {
        if (_own.Minute != windows.Minute)
        {
            _own = _own with { Minute = windows.Minute, MinuteCounts = new Dictionary<string, UsageCounts>() };
        }

        if (_own.Day != windows.Day)
        {
            _own = _own with { Day = windows.Day, DayCounts = new Dictionary<string, UsageCounts>() };
        }
    }
}

/// <summary>A slot as gossip carries it (<see cref="V1.UsageRecord"/>), and back.</summary>
internal static class UsageRecords
{
    public static V1.UsageRecord ToRecord(UsageSlot slot, ulong sequence)
    {
        var record = new V1.UsageRecord { Member = slot.Member, Sequence = sequence, Minute = slot.Minute, Day = slot.Day };
        record.MinuteUsage.Add(slot.MinuteCounts.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => Entry(p.Key, p.Value)));
        record.DayUsage.Add(slot.DayCounts.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => Entry(p.Key, p.Value)));
        return record;
    }

    /// <summary>The slot a record carries; check it with <c>RecordRules.Usage</c> first (its counts fit a long then).</summary>
    public static UsageSlot FromRecord(V1.UsageRecord record) => new(
        record.Member, record.Minute, record.Day,
        record.MinuteUsage.ToDictionary(u => u.Tenant, Counts, StringComparer.Ordinal),
        record.DayUsage.ToDictionary(u => u.Tenant, Counts, StringComparer.Ordinal));

    private static V1.TenantUsage Entry(string tenant, UsageCounts counts) => new()
    {
        Tenant = tenant,
        Requests = (ulong)counts.Requests,
        InputTokens = (ulong)counts.InputTokens,
        OutputTokens = (ulong)counts.OutputTokens,
        SpendMicroUsd = (ulong)counts.SpendMicroUsd,
    };

    private static UsageCounts Counts(V1.TenantUsage usage) =>
        new((long)usage.Requests, (long)usage.InputTokens, (long)usage.OutputTokens, (long)usage.SpendMicroUsd);
}
