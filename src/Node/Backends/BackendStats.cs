namespace LlmRouter.Node.Backends;

/// <summary>
/// Moving averages of how a backend performs: time to first token, tokens per second, error rate. They feed
/// the routing score now and the gossiped load records later.
/// </summary>
internal sealed class BackendStats
{
    private const double Smoothing = 0.2;
    private readonly Lock _lock = new();
    private double _timeToFirstTokenSeconds = double.NaN;
    private double _tokensPerSecond = double.NaN;
    private double _errorRate;
    private long _lastServedTimestamp;

    /// <summary>Mean time to first token; null until the backend has answered once.</summary>
    public TimeSpan? TimeToFirstToken
    {
        get
        {
            lock (_lock)
            {
                return double.IsNaN(_timeToFirstTokenSeconds) ? null : TimeSpan.FromSeconds(_timeToFirstTokenSeconds);
            }
        }
    }

    public double? TokensPerSecond
    {
        get
        {
            lock (_lock)
            {
                return double.IsNaN(_tokensPerSecond) ? null : _tokensPerSecond;
            }
        }
    }

    /// <summary>Share of recent requests that failed, 0..1.</summary>
    public double ErrorRate
    {
        get
        {
            lock (_lock)
            {
                return _errorRate;
            }
        }
    }

    /// <summary>Timestamp (TimeProvider ticks) of the last answer, 0 if none: a recently used model is warm.</summary>
    public long LastServedTimestamp => Interlocked.Read(ref _lastServedTimestamp);

    public void RecordSuccess(TimeSpan timeToFirstToken, int outputTokens, TimeSpan generation, long now)
    {
        lock (_lock)
        {
            _timeToFirstTokenSeconds = Blend(_timeToFirstTokenSeconds, timeToFirstToken.TotalSeconds);
            if (outputTokens > 1 && generation > TimeSpan.Zero)
            {
                _tokensPerSecond = Blend(_tokensPerSecond, outputTokens / generation.TotalSeconds);
            }

            _errorRate += Smoothing * (0 - _errorRate);
        }

        Interlocked.Exchange(ref _lastServedTimestamp, now);
    }

    public void RecordFailure()
    {
        lock (_lock)
        {
            _errorRate += Smoothing * (1 - _errorRate);
        }
    }

    private static double Blend(double current, double sample) =>
        double.IsNaN(current) ? sample : current + (Smoothing * (sample - current));
}
