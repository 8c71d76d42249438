using LlmRouter.V1;

namespace LlmRouter.Common.Quotas;

/// <summary>
/// When a usage record is worth publishing (DESIGN.md section 13), for the hosts (<see cref="UsageGossip"/>) and the
/// simulator alike: when what it says changed, and otherwise again now and then for members that joined since.
///
/// Gossip carries a pool's records within a budget that does not grow with the pool: each member sends a few messages
/// per gossip interval, each with 1400 bytes of updates, and passes every update on 4 x log10(N) times, so a pool
/// spreads some ten new records a second with the LAN preset whatever its size (load and membership records share
/// it). Two kinds of publication carry no news and would crowd out the ones that do:
/// <list type="bullet">
/// <item>a slot whose minute turned with nothing in the new minute yet: receivers count a reading of an earlier
/// minute as nothing this minute already (and still count its member as sending);</item>
/// <item>a repetition of an unchanged record: repeated every 5 s, or, in pools of more than 50 members, every
/// members / 10 seconds, so a whole pool repeats at most ten records a second (a thousand members repeating every
/// 5 s sent two hundred a second, many times what their gossip carries, and usage took far longer than the spread to
/// arrive).</item>
/// </list>
/// Not thread-safe: one publisher calls it.
/// </summary>
internal sealed class UsagePublication(TimeProvider time)
{
    private readonly Dictionary<string, Published> _published = new(StringComparer.Ordinal);

    /// <summary>How long an unchanged record waits before it is repeated, in a pool of <paramref name="members"/>.</summary>
    public static TimeSpan RepeatAfter(int members) => TimeSpan.FromSeconds(Math.Max(5, members / 10.0));

    /// <summary>Whether the record (one origin's, into one pool of <paramref name="members"/>) is due, and if so notes it as published.</summary>
    public bool Due(string key, UsageRecord record, int members)
    {
        var (minute, others) = Parts(record);
        var at = time.GetTimestamp();
        if (_published.TryGetValue(key, out var last) && others == last.Others && (minute.Length == 0 || minute == last.Minute)
            && time.GetElapsedTime(last.At, at) < RepeatAfter(members))
        {
            return false;
        }

        _published[key] = new Published(minute, others, at);
        return true;
    }

    /// <summary>
    /// What a receiver learns from the record: its minute's counts with the minute they belong to (nothing when the
    /// minute has no counts yet), and everything else (the day's counts, its origin and members).
    /// </summary>
    private static (string Minute, string Others) Parts(UsageRecord record)
    {
        var rest = record.Clone();
        rest.Minute = 0;
        rest.MinuteUsage.Clear();
        return (record.MinuteUsage.Count > 0 ? record.Minute + ":" + record.MinuteUsage : "", rest.ToString());
    }

    private readonly record struct Published(string Minute, string Others, long At);
}
