using System.Collections.Concurrent;
using Grpc.Core;
using Polly;
using Polly.CircuitBreaker;

namespace LlmRouter.Node.Resilience;

/// <summary>
/// Circuit breaking and cooldown per backend of the pool (key "node/backend"), one Polly circuit breaker
/// each (STYLE.md 10: Polly pipelines by key, our failover loop the only retry). A backend that keeps
/// failing cools down: routing skips it until the break ends, and this node's own backends' cooldowns go
/// out in its load records so the other members skip them too.
/// </summary>
internal sealed class BackendBreakers(TimeProvider time)
{
    // Half of the calls failing, over at least three calls in 30 s, opens the breaker for 15 s.
    private const double FailureRatio = 0.5;
    private const int MinimumThroughput = 3;
    private static readonly TimeSpan SamplingDuration = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan BreakDuration = TimeSpan.FromSeconds(15);

    private readonly ConcurrentDictionary<string, ResiliencePipeline> _pipelines = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, DateTimeOffset> _cooldowns = new(StringComparer.Ordinal);

    /// <summary>When the backend's cooldown ends, or null when it is not cooling down.</summary>
    public DateTimeOffset? CooldownUntil(string backendKey) => CooldownUntil(backendKey, time.GetUtcNow());

    /// <summary>As <see cref="CooldownUntil(string)"/>, at a time the caller read once for many backends.</summary>
    public DateTimeOffset? CooldownUntil(string backendKey, DateTimeOffset now) =>
        _cooldowns.TryGetValue(backendKey, out var until) && until > now ? until : null;

    /// <summary>Whether any backend is cooling down now (one pass over the few recorded cooldowns).</summary>
    public bool AnyCoolingDown(DateTimeOffset now)
    {
        foreach (var (_, until) in _cooldowns)
        {
            if (until > now)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Runs one attempt through the backend's breaker; an open breaker fails at once with UNAVAILABLE.</summary>
    public async Task ExecuteAsync(string backendKey, Func<CancellationToken, Task> attempt, CancellationToken cancellationToken)
    {
        var pipeline = _pipelines.GetOrAdd(backendKey, Build);
        try
        {
            await pipeline.ExecuteAsync(async token => await attempt(token).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
        }
        catch (BrokenCircuitException ex)
        {
            var until = CooldownUntil(backendKey);
            throw new RpcException(new Status(StatusCode.Unavailable,
                $"backend {backendKey} is cooling down after repeated failures{(until is { } end ? $" until {end:HH:mm:ss}" : "")}: {ex.Message}"));
        }
    }

    /// <summary>
    /// Drops the failure history of every backend reached through a member (keys "member/..."): it came back
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

    /// <summary>Failures of the backend itself count; a bad request, a full queue or a cancelled call do not.</summary>
    private static bool BackendFailed(Outcome<object> outcome) =>
        outcome.Exception is RpcException { StatusCode: StatusCode.Unavailable or StatusCode.Internal or StatusCode.Unknown or StatusCode.DataLoss };

    private ResiliencePipeline Build(string backendKey) => new ResiliencePipelineBuilder { TimeProvider = time }
        .AddCircuitBreaker(new CircuitBreakerStrategyOptions
        {
            FailureRatio = FailureRatio,
            MinimumThroughput = MinimumThroughput,
            SamplingDuration = SamplingDuration,
            BreakDuration = BreakDuration,
            ShouldHandle = arguments => ValueTask.FromResult(BackendFailed(arguments.Outcome)),
            OnOpened = arguments =>
            {
                _cooldowns[backendKey] = time.GetUtcNow() + arguments.BreakDuration;
                return ValueTask.CompletedTask;
            },
            OnClosed = _ =>
            {
                _cooldowns.TryRemove(backendKey, out DateTimeOffset _);
                return ValueTask.CompletedTask;
            },
        })
        .Build();
}
