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

/// <summary>What one tenant used in one window on one member (or, carried by an integrator, in one pool). Counters only grow within a window.</summary>
/// <param name="SpendMicroUsd">Spend in millionths of a dollar (integers add and compare exactly).</param>
/// <param name="Ended">Requests that ended: their tokens and spend are counted, so <c>Requests - Ended</c> are in flight.</param>
/// <param name="Members">Members whose admissions these are: 1 in a member's own slot, how many in a pool's sum.</param>
/// <param name="Charged">Ended requests whose usage is counted: the tokens and spend divided by it are what one request uses.</param>
/// <param name="Asked">Minutes in which the member was asked for the tenant's requests (admitted or refused; marked once
/// a minute, so refusals do not churn its slot): a member with any in this minute or the last is sending them.</param>
internal readonly record struct UsageCounts(long Requests, long InputTokens, long OutputTokens, long SpendMicroUsd, long Ended = 0, long Members = 0, long Charged = 0, long Asked = 0)
{
    public static UsageCounts Zero => default;

    public long InFlight => Math.Max(0, Requests - Ended);

    public static UsageCounts operator +(UsageCounts a, UsageCounts b) => new(
        a.Requests + b.Requests, a.InputTokens + b.InputTokens, a.OutputTokens + b.OutputTokens, a.SpendMicroUsd + b.SpendMicroUsd, a.Ended + b.Ended, a.Members + b.Members,
        a.Charged + b.Charged, a.Asked + b.Asked);

    /// <summary>The merge of two readings of one slot: each counter's larger value (it only grows, so the larger is the later).</summary>
    public static UsageCounts Max(UsageCounts a, UsageCounts b) => new(
        Math.Max(a.Requests, b.Requests), Math.Max(a.InputTokens, b.InputTokens), Math.Max(a.OutputTokens, b.OutputTokens),
        Math.Max(a.SpendMicroUsd, b.SpendMicroUsd), Math.Max(a.Ended, b.Ended), Math.Max(a.Members, b.Members), Math.Max(a.Charged, b.Charged), Math.Max(a.Asked, b.Asked));
}

/// <summary>
/// One slot: a member's own counts per tenant for one minute and one day, or a pool's sum an integrator carries.
/// One member alone writes it; everyone else only merges readings of it.
/// </summary>
/// <param name="Member">Whose slot: a member's id, or <c>pool:NAME</c> for a pool's sum.</param>
internal sealed record UsageSlot(string Member, long Minute, long Day, IReadOnlyDictionary<string, UsageCounts> MinuteCounts, IReadOnlyDictionary<string, UsageCounts> DayCounts)
{
    public static UsageSlot Empty(string member) => new(member, 0, 0, new Dictionary<string, UsageCounts>(), new Dictionary<string, UsageCounts>());

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

    /// <summary>The slot's counts for the tenant in the windows of <paramref name="windows"/> (zero for a window it is not in).</summary>
    public (UsageCounts Minute, UsageCounts Day) Counted(string tenant, UsageWindows windows) =>
        (Minute == windows.Minute ? MinuteCounts.GetValueOrDefault(tenant) : UsageCounts.Zero,
         Day == windows.Day ? DayCounts.GetValueOrDefault(tenant) : UsageCounts.Zero);

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

/// <summary>Where a slot was heard: natively in one of this host's pools (and whether from a node), or relayed by an integrator.</summary>
internal readonly record struct SlotSource(string? Pool, bool Node)
{
    public static SlotSource Relayed => new(null, false);
}

/// <summary>
/// Usage of every tenant across the mesh, as this member knows it (DESIGN.md section 13): per-member slots, each a
/// grow-only counter per tenant and window that only its member increments, merged by maximum, summed for the mesh;
/// beyond the borders, the pools' sums integrators carry (<see cref="Receive"/>, <see cref="Relayed"/>).
/// No member waits for another and there is no central store; the price is that a member sees the others' usage
/// as late as gossip brings it, which <see cref="QuotaGate"/> bounds by pacing its own share.
///
/// A slot is one life of a member: its key is the member's id and the time its process started (<c>boot</c>), so a
/// member that restarts within a window starts a new slot and the old one stays counted beside it until its day
/// ends. Thread-safe; readers get sums of immutable slots.
/// </summary>
/// <param name="boot">When this process started (Unix milliseconds; 0 in the simulator, whose members never restart).</param>
internal sealed class UsageLedger(string self, IReadOnlyCollection<string>? ownPools = null, ulong boot = 0)
{
    private const string PoolPrefix = "pool:";
    private const string MemberPrefix = "member:";

    /// <summary>The most members a pool's sum may speak for (a larger claim would shrink every newcomer's share to nothing).</summary>
    public const uint MaxPoolMembers = 10_000;

    private readonly Lock _lock = new();
    private readonly Dictionary<string, (UsageSlot Slot, SlotSource Source)> _others = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _poolMembers = new(StringComparer.Ordinal);
    private readonly Dictionary<(string Key, string Tenant), Active> _lastActive = [];
    private readonly HashSet<string> _ownPools = new(ownPools ?? [], StringComparer.Ordinal);
    private UsageSlot _own = UsageSlot.Empty(SlotKey(self, boot));

    /// <summary>This member's id (its records are signed as it).</summary>
    public string Self => self;

    /// <summary>This process's start, carried in its records so each life is a slot of its own.</summary>
    public ulong Boot => boot;

    /// <summary>A member's slot key: its id, and its life when it has one.</summary>
    public static string SlotKey(string member, ulong boot) => boot == 0 ? member : member + "#" + boot.ToString(System.Globalization.CultureInfo.InvariantCulture);

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

    /// <summary>
    /// Merges a reading of another slot. This member's own slot is never taken from outside, and a slot heard
    /// natively (from its member, in one of this member's pools) is not taken from a relay.
    /// </summary>
    public void Merge(UsageSlot slot, SlotSource source = default)
    {
        if (string.Equals(slot.Member, _own.Member, StringComparison.Ordinal))
        {
            return;
        }

        lock (_lock)
        {
            if (_others.TryGetValue(slot.Member, out var known))
            {
                if (source.Pool is null && known.Source.Pool is not null)
                {
                    return;
                }

                _others[slot.Member] = (UsageSlot.Merge(known.Slot, slot), source.Pool is null ? known.Source : source);
            }
            else
            {
                _others[slot.Member] = (slot, source);
            }

            foreach (var (tenant, counts) in slot.MinuteCounts.Where(p => p.Value.Asked > 0 || p.Value.Requests > 0))
            {
                var key = (slot.Member, tenant);
                if (!_lastActive.TryGetValue(key, out var last) || slot.Minute >= last.Minute)
                {
                    _lastActive[key] = slot.Minute == last.Minute
                        ? last with { Members = Math.Max(last.Members, counts.Members) }
                        : new Active(slot.Minute, counts.Members, slot.Minute == last.Minute + 1 ? last.Members : 0);
                }
            }
        }
    }

    /// <summary>
    /// Takes a usage record received in <paramref name="pool"/> (checked and verified by the membership): a member's
    /// own slot; or, from an integrator, a pool's sum or another integrator's slot. Refused (false):
    /// <list type="bullet">
    /// <item>a sum of a pool this member sits in: its own members' slots count that pool already;</item>
    /// <item>a window later than this member's clock: a later window replaces an earlier one in the merge, so a
    /// reading from the future would hide the slot's real usage (or, from a lying integrator, the sum honest
    /// integrators report) until that window came. A member whose clock runs ahead is heard once this one's has
    /// turned too (it publishes again on its next change, or when it repeats its record: <see cref="UsagePublication"/>);</item>
    /// <item>a pool's sum speaking for more than <see cref="MaxPoolMembers"/> members.</item>
    /// </list>
    /// </summary>
    public bool Receive(V1.UsageRecord record, string pool, V1.MemberRole senderRole, DateTimeOffset now)
    {
        var windows = UsageWindows.At(now);
        if (record.Minute > windows.Minute || record.Day > windows.Day)
        {
            return false;
        }

        var slot = UsageRecords.FromRecord(record);
        if (record.Origin.Length == 0)
        {
            Merge(slot with { Member = SlotKey(record.Member, record.Boot) }, new SlotSource(pool, senderRole == V1.MemberRole.Node));
            return true;
        }

        if (record.Origin.StartsWith(MemberPrefix, StringComparison.Ordinal))
        {
            Merge(slot with { Member = record.Origin[MemberPrefix.Length..] }, SlotSource.Relayed);
            return true;
        }

        var origin = record.Origin;
        if (!origin.StartsWith(PoolPrefix, StringComparison.Ordinal) || _ownPools.Contains(origin[PoolPrefix.Length..]) || record.Members > MaxPoolMembers)
        {
            return false;
        }

        Merge(slot with { Member = origin }, SlotSource.Relayed);
        lock (_lock)
        {
            _poolMembers[origin] = Math.Max(_poolMembers.GetValueOrDefault(origin), record.Members);
        }

        return true;
    }

    /// <summary>
    /// What an integrator carries into <paramref name="pool"/>: for every other pool it sits in, the sum of its
    /// nodes' slots (<c>pool:NAME</c>, with <paramref name="poolNodes"/> as its size); the pools' sums it heard from
    /// other integrators, for pools other than <paramref name="pool"/>; and the slots of other integrators.
    /// </summary>
    public IReadOnlyList<(string Origin, UsageSlot Slot, long Members)> Relayed(string pool, Func<string, int> poolNodes, DateTimeOffset now)
    {
        var windows = UsageWindows.At(now);
        var relayed = new List<(string, UsageSlot, long)>();
        lock (_lock)
        {
            foreach (var other in _ownPools.Where(p => !string.Equals(p, pool, StringComparison.Ordinal)))
            {
                var nodes = _others.Values.Where(s => s.Source.Node && string.Equals(s.Source.Pool, other, StringComparison.Ordinal)).Select(s => s.Slot);
                relayed.Add((PoolPrefix + other, Sum(PoolPrefix + other, nodes, windows), poolNodes(other)));
            }

            foreach (var (key, (slot, source)) in _others)
            {
                if (key.StartsWith(PoolPrefix, StringComparison.Ordinal))
                {
                    if (!string.Equals(key, PoolPrefix + pool, StringComparison.Ordinal))
                    {
                        relayed.Add((key, slot, _poolMembers.GetValueOrDefault(key)));
                    }
                }
                else if (!source.Node)
                {
                    relayed.Add((MemberPrefix + key, slot, 1));
                }
            }
        }

        return relayed;
    }

    /// <summary>Members beyond this member's pools, as the integrators' sums count them.</summary>
    public long RemoteMembers
    {
        get
        {
            lock (_lock)
            {
                return _poolMembers.Values.Sum();
            }
        }
    }

    /// <summary>Forgets slots of an earlier day (members that left or restarted, pools no longer heard): the current windows stay counted until they end.</summary>
    public void Prune(DateTimeOffset now)
    {
        var day = UsageWindows.At(now).Day;
        lock (_lock)
        {
            foreach (var key in _others.Where(p => p.Value.Slot.Day < day).Select(p => p.Key).ToList())
            {
                _others.Remove(key);
                _poolMembers.Remove(key);
            }

            foreach (var key in _lastActive.Keys.Where(k => !_others.ContainsKey(k.Key)).ToList())
            {
                _lastActive.Remove(key);
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
            var (minute, day) = _own.Counted(tenant, windows);
            foreach (var (slot, _) in _others.Values)
            {
                var (slotMinute, slotDay) = slot.Counted(tenant, windows);
                minute += slotMinute;
                day += slotDay;
            }

            return (minute, day);
        }
    }

    /// <summary>
    /// How many other members were asked for the tenant's requests (admitted or not) in this minute or the one
    /// before, as far as this member knows (remembered from the last readings of each slot, so a member that began a
    /// new minute without a request yet still counts): the members its own share of a quota is paced against
    /// (<see cref="QuotaGate"/>).
    /// </summary>
    public long ActiveOthers(string tenant, DateTimeOffset now)
    {
        var minute = UsageWindows.At(now).Minute;
        lock (_lock)
        {
            return _lastActive.Where(p => string.Equals(p.Key.Tenant, tenant, StringComparison.Ordinal) && p.Value.Minute >= minute - 1)
                .Sum(p => Math.Max(1, p.Value.Sending(minute)));
        }
    }

    /// <summary>Every slot's counts for the tenant in the current windows, this member's first (the Admin API's per-member view).</summary>
    public IReadOnlyList<(string Member, UsageCounts Minute, UsageCounts Day)> PerSlot(string tenant, DateTimeOffset now)
    {
        var windows = UsageWindows.At(now);
        lock (_lock)
        {
            Roll(windows);
            var own = _own.Counted(tenant, windows);
            var rows = new List<(string, UsageCounts, UsageCounts)> { (self, own.Minute, own.Day) };
            foreach (var (key, (slot, _)) in _others.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                var (minute, day) = slot.Counted(tenant, windows);
                if (minute != UsageCounts.Zero || day != UsageCounts.Zero)
                {
                    rows.Add((key, minute, day));
                }
            }

            return rows;
        }
    }

    private static UsageSlot Sum(string member, IEnumerable<UsageSlot> slots, UsageWindows windows)
    {
        var minute = new Dictionary<string, UsageCounts>(StringComparer.Ordinal);
        var day = new Dictionary<string, UsageCounts>(StringComparer.Ordinal);
        foreach (var slot in slots)
        {
            if (slot.Minute == windows.Minute)
            {
                foreach (var (tenant, counts) in slot.MinuteCounts)
                {
                    minute[tenant] = minute.GetValueOrDefault(tenant) + counts;
                }
            }

            if (slot.Day == windows.Day)
            {
                foreach (var (tenant, counts) in slot.DayCounts)
                {
                    day[tenant] = day.GetValueOrDefault(tenant) + counts;
                }
            }
        }

        return new UsageSlot(member, windows.Minute, windows.Day, minute, day);
    }

    private static Dictionary<string, UsageCounts> With(IReadOnlyDictionary<string, UsageCounts> counts, string tenant, UsageCounts added)
    {
        var next = new Dictionary<string, UsageCounts>(counts, StringComparer.Ordinal);
        next[tenant] = (next.GetValueOrDefault(tenant) + added) with { Members = 1 };
        return next;
    }

    /// <summary>
    /// The latest minute a slot was heard sending the tenant's requests in, and how many members it spoke for then (one
    /// for a member's own slot; a pool's sum speaks for many) and in the minute before. A pool's sum starts each minute
    /// over: until its members have been asked again, the minute before's count stands.
    /// </summary>
    private readonly record struct Active(long Minute, long Members, long Before)
    {
        /// <summary>The members the slot speaks for, as of <paramref name="minute"/> (its own minute or the next).</summary>
        public long Sending(long minute) => minute == Minute ? Math.Max(Members, Before) : Members;
    }

    /// <summary>
    /// Starts new windows in this member's slot when the minute or the day turned; never goes back: a caller that read
    /// the clock a moment before another one turned the windows counts in the current ones (counting a request in the
    /// next minute is safe; starting the minute over would drop what the new minute had counted).
    /// </summary>
    private void Roll(UsageWindows windows)
    {
        if (windows.Minute > _own.Minute)
        {
            _own = _own with { Minute = windows.Minute, MinuteCounts = new Dictionary<string, UsageCounts>() };
        }

        if (windows.Day > _own.Day)
        {
            _own = _own with { Day = windows.Day, DayCounts = new Dictionary<string, UsageCounts>() };
        }
    }
}

/// <summary>A slot as gossip carries it (<see cref="V1.UsageRecord"/>), and back.</summary>
internal static class UsageRecords
{
    /// <summary>A member's own slot as its record, for a member without lives (the simulator, tests).</summary>
    public static V1.UsageRecord ToRecord(UsageSlot slot, ulong sequence) => ToRecord(slot, sequence, slot.Member, "", 1);

    /// <summary>This member's own slot as its record: signed by it, with its life.</summary>
    public static V1.UsageRecord Own(UsageLedger ledger, DateTimeOffset now) => ToRecord(ledger.Own(now), 0, ledger.Self, "", 1, ledger.Boot);

    /// <summary>A slot as the record <paramref name="member"/> signs: its own (no origin), or what an integrator relays from <paramref name="origin"/>.</summary>
    public static V1.UsageRecord ToRecord(UsageSlot slot, ulong sequence, string member, string origin, long members, ulong boot = 0)
    {
        var record = new V1.UsageRecord
        {
            Member = member, Sequence = sequence, Minute = slot.Minute, Day = slot.Day, Origin = origin, Members = (uint)Math.Clamp(members, 0, uint.MaxValue), Boot = boot,
        };
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
        Ended = (ulong)counts.Ended,
        Members = (ulong)counts.Members,
        Charged = (ulong)counts.Charged,
        Asked = (ulong)counts.Asked,
    };

    private static UsageCounts Counts(V1.TenantUsage usage) =>
        new((long)usage.Requests, (long)usage.InputTokens, (long)usage.OutputTokens, (long)usage.SpendMicroUsd, (long)usage.Ended, (long)usage.Members, (long)usage.Charged, (long)usage.Asked);
}
