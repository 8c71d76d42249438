using System.Collections.Concurrent;
using Grpc.Core;
using Polly;
using Polly.CircuitBreaker;

namespace LlmRouter.Common.Resilience;

/// <summary>
/// Circuit breaking and cooldown per candidate of this host: a copy of a model it reaches itself (key
/// "node/backend") or a route ("integrator/route:model"), one Polly circuit breaker each (STYLE.md 10:
/// Polly by key, our attempt loop the only retry). Outcomes are recorded after the attempt, against what
/// failed here: a request through an integrator that failed on one copy behind it (the integrator names
/// it, and records it in its own breakers) is recorded against nothing here, never against the route as a
/// whole, so a lost copy does not cool down the copies beside it; a route cools down only when the
/// integrator itself failed or had nothing to offer. A copy that keeps failing cools down: routing skips
/// it until the break ends, and a node's own backends' cooldowns go out in its load records so the pool
/// skips them too.
/// </summary>
/// <param name="metrics">Where breaker changes and cooldowns are counted; null in tests that use breakers alone.</param>
internal sealed class CopyBreakers(TimeProvider time, Telemetry.RouterMetrics? metrics = null)
{
    // Half of the calls failing, over at least three calls in 30 s, opens the breaker for 15 s.
    private const double FailureRatio = 0.5;
    private const int MinimumThroughput = 3;
    private static readonly TimeSpan SamplingDuration = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan BreakDuration = TimeSpan.FromSeconds(15);

    private readonly ConcurrentDictionary<string, ResiliencePipeline> _pipelines = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, DateTimeOffset> _cooldowns = new(StringComparer.Ordinal);

    /// <summary>The copies cooling down now, for the metrics' gauge.</summary>
    public IEnumerable<string> CoolingDown()
    {
        var now = time.GetUtcNow();
        return _cooldowns.Where(cooldown => cooldown.Value > now).Select(cooldown => cooldown.Key);
    }

    /// <summary>When the copy's cooldown ends, or null when it is not cooling down.</summary>
    public DateTimeOffset? CooldownUntil(string key) => CooldownUntil(key, time.GetUtcNow());

    /// <summary>As <see cref="CooldownUntil(string)"/>, at a time the caller read once for many copies.</summary>
    public DateTimeOffset? CooldownUntil(string key, DateTimeOffset now) =>
        _cooldowns.TryGetValue(key, out var until) && until > now ? until : null;

    /// <summary>Whether any copy is cooling down now (one pass over the few recorded cooldowns; ended ones are dropped).</summary>
    public bool AnyCoolingDown(DateTimeOffset now)
    {
        var any = false;
        foreach (var (key, until) in _cooldowns)
        {
            if (until > now)
            {
                any = true;
            }
            else
            {
                // Over: a breaker that opens again records a new one.
                _cooldowns.TryRemove(new KeyValuePair<string, DateTimeOffset>(key, until));
            }
        }

        return any;
    }

    /// <summary>The refusal of an attempt on a copy that is cooling down (UNAVAILABLE naming it and when it ends), or null when it may be tried.</summary>
    public RpcException? Refusal(string key) => CooldownUntil(key) is { } until
        ? new RpcException(new Status(StatusCode.Unavailable, $"{key} is cooling down after repeated failures until {until:HH:mm:ss}"))
        : null;

    /// <summary>Records an attempt that succeeded on the copy.</summary>
    public ValueTask RecordSuccessAsync(string key) => RecordAsync(key, Outcome.FromResult<object>(key));

    /// <summary>Records a failed attempt against each copy that failed in it.</summary>
    public async ValueTask RecordFailureAsync(IEnumerable<string> keys, RpcException error)
    {
        foreach (var key in keys)
        {
            await RecordAsync(key, Outcome.FromException<object>(error)).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Drops the failure history of every copy reached through a member (keys "member/..."): it came back
    /// (joined again after a restart, or alive after it was declared dead), so its past failures say nothing
    /// about it now, and a breaker left open would turn away the first requests it could serve.
    /// </summary>
    public void Forget(string member)
    {
        var prefix = member + "/";
        foreach (var key in _pipelines.Keys.Where(k => k.StartsWith(prefix, StringComparison.Ordinal)).ToList())
        {
            _pipelines.TryRemove(key, out _);
            _cooldowns.TryRemove(key, out _);
        }
    }

    /// <summary>Feeds one outcome to the copy's breaker (an open breaker takes none: it is already open).</summary>
    private async ValueTask RecordAsync(string key, Outcome<object> outcome)
    {
        var pipeline = _pipelines.GetOrAdd(key, Build);
        var context = ResilienceContextPool.Shared.Get();
        try
        {
            await pipeline.ExecuteOutcomeAsync(static (_, recorded) => ValueTask.FromResult(recorded), context, outcome).ConfigureAwait(false);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    /// <summary>Failures of the copy itself count; a bad request, a full queue or a cancelled call do not.</summary>
    private static bool CopyFailed(Outcome<object> outcome) =>
        outcome.Exception is RpcException { StatusCode: StatusCode.Unavailable or StatusCode.Internal or StatusCode.Unknown or StatusCode.DataLoss };

    private ResiliencePipeline Build(string key) => new ResiliencePipelineBuilder { TimeProvider = time }
        .AddCircuitBreaker(new CircuitBreakerStrategyOptions
        {
            FailureRatio = FailureRatio,
            MinimumThroughput = MinimumThroughput,
            SamplingDuration = SamplingDuration,
            BreakDuration = BreakDuration,
            ShouldHandle = arguments => ValueTask.FromResult(CopyFailed(arguments.Outcome)),
            OnOpened = arguments =>
            {
                _cooldowns[key] = time.GetUtcNow() + arguments.BreakDuration;
                metrics?.BreakerChanged(key, "opened");
                return ValueTask.CompletedTask;
            },
            OnHalfOpened = _ =>
            {
                metrics?.BreakerChanged(key, "half_opened");
                return ValueTask.CompletedTask;
            },
            OnClosed = _ =>
            {
                _cooldowns.TryRemove(key, out DateTimeOffset _);
                metrics?.BreakerChanged(key, "closed");
                return ValueTask.CompletedTask;
            },
        })
        .Build();
}
