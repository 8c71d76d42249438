namespace LlmRouter.Common.Telemetry;

/// <summary>
/// Whether a request entering the mesh at this node is traced: with traces exported, one without a trace of its own
/// in the share <c>trace_sample_ratio</c> asks for (drawn from the process's one random source), one whose client
/// traces it (a sampled <c>traceparent</c>) whatever the ratio; and of both at most <c>max_traces_per_second</c> a
/// second. A traced request costs its entry node and every hop after it the work of its spans (in the telemetry
/// benchmark about 15 µs of CPU at a one-hop node, and a fifth or more of a busy node's CPU per answer in all); the
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
/// worth (a burst after a quiet spell is traced whole); 0 takes no count.
/// </summary>
internal sealed class TraceBudget(int perSecond, TimeProvider time)
{
    private readonly Lock _lock = new();
    private double _tokens = perSecond;
    private long _refilledAt = time.GetTimestamp();

    public bool TryTake()
    {
        if (perSecond == 0)
        {
            return true;
        }

        lock (_lock)
        {
            var now = time.GetTimestamp();
            _tokens = Math.Min(perSecond, _tokens + (time.GetElapsedTime(_refilledAt, now).TotalSeconds * perSecond));
            _refilledAt = now;
            if (_tokens < 1)
            {
                return false;
            }

            _tokens--;
            return true;
        }
    }
}
