namespace LlmRouter.Common.Telemetry;

/// <summary>
/// Whether a request entering the mesh without a trace of its own starts one: with traces exported, in the share
/// <c>trace_sample_ratio</c> asks for (drawn from the process's one random source), and at most
/// <c>max_traces_per_second</c> of those a second. A traced request costs its entry node and every hop after it the
/// work of its spans (in the telemetry benchmark about 15 µs of CPU at a one-hop node, and a fifth or more of a busy
/// node's CPU per answer in all); the limit keeps that a bounded share of a node's work at any load, and leaves every
/// request traced while a node serves fewer than that.
/// </summary>
internal sealed class RequestTracing(bool enabled, double ratio, TraceBudget budget, Func<double> random)
{
    /// <summary>Traces are exported: spans are worth creating at all.</summary>
    public bool Enabled => enabled;

    public bool StartsTrace() => enabled && random() < ratio && budget.TryTake();
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
