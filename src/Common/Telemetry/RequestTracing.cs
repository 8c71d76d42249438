namespace LlmRouter.Common.Telemetry;

/// <summary>
/// Whether a request entering the mesh at this node is traced: with traces exported, one without a trace of its own
/// in the share <c>trace_sample_ratio</c> asks for (drawn from the process's one random source), one whose client
/// traces it (a sampled <c>traceparent</c>) whatever the ratio; and of both at most <c>max_traces_per_second</c> a
/// second. A traced request costs its entry node and every hop after it the work of its spans (in the telemetry
/// benchmark about 15 µs of CPU at a one-hop node, and a fifth or more of a busy node's CPU per answer in all; an
/// estimated 0.012 ms on its answer's path at concurrency 1, about 0.02 ms while spans are being exported); the
/// limit keeps the traces an entry node starts a bounded share of its work at any load (clients that sample every
/// call included), and leaves every request traced while a node serves fewer. The hops after the entry follow its
/// decision, so a node serving for several entry nodes records up to their limits together.
/// </summary>
internal sealed class RequestTracing(bool enabled, double ratio, TraceBudget budget, Func<double> random)
{
    /// <summary>Traces are exported: spans are worth creating at all.</summary>
    public bool Enabled => enabled;

    /// <summary>An entering request without a trace of its own starts one.</summary>
    public bool StartsTrace() => enabled && random() < ratio && budget.TryTake();

    /// <summary>An entering request whose client traces it is traced here too (declined, it goes on unsampled, so the hops after it record nothing).</summary>
    public bool FollowsClient() => enabled && budget.TryTake();
}

/// <summary>
/// A token bucket of traces: <paramref name="perSecond"/> a second, refilled continuously, holding at most one second's
/// worth (a burst after a quiet spell is traced whole); 0 takes no count. Asked by every request entering the node, so
/// it takes no lock: its state is one time, the moment the bucket was (or would have been) empty, and a trace is taken
/// by moving that time on by one trace's interval with a compare-and-swap (the generic cell rate algorithm). The times
/// are timestamp ticks since the bucket was made, in a double: an interval of a rate that does not divide the clock's
/// frequency is kept exact, not rounded (rounded down, a limit near a million a second on a 10 MHz clock let 10% more through).
/// </summary>
internal sealed class TraceBudget
{
    // A take that lands within a billionth of an interval of the boundary is allowed: sums of inexact intervals may
    // fall that short of a whole one, which would refuse the last trace of a burst.
    private const double Tolerance = 1e-9;

    private readonly TimeProvider _time;
    private readonly long _origin;
    private readonly double _interval;
    private readonly double _capacity;
    private double _emptyAt;

    public TraceBudget(int perSecond, TimeProvider time)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(perSecond);
        _time = time;
        _origin = time.GetTimestamp();
        if (perSecond > 0)
        {
            _capacity = time.TimestampFrequency;
            _interval = _capacity / perSecond;
            _emptyAt = -_capacity;
        }
    }

    public bool TryTake()
    {
        if (_interval == 0)
        {
            return true;
        }

        double now = _time.GetTimestamp() - _origin;
        while (true)
        {
            var emptyAt = Volatile.Read(ref _emptyAt);
            // Full after a second's quiet: what the bucket refilled beyond its capacity is not kept.
            var from = Math.Max(emptyAt, now - _capacity);
            if (now - from < _interval * (1 - Tolerance))
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _emptyAt, from + _interval, emptyAt) == emptyAt)
            {
                return true;
            }
        }
    }
}
