using Grpc.Health.V1;
using Grpc.HealthCheck;
using LlmRouter.Common.Pipeline;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace LlmRouter.Common.Hosting;

/// <summary>
/// Graceful shutdown of a node or an integrator (DESIGN.md section 7). On stop, before Kestrel closes its
/// listeners: health turns NOT_SERVING, new calls are refused with UNAVAILABLE, the host leaves every pool
/// it has a seat in (members route elsewhere), open streams get up to drain_timeout to finish, and any still
/// open after that end with UNAVAILABLE. Health turns SERVING once the host has started.
/// </summary>
internal sealed partial class DrainService(
    IRouterHost host,
    DrainState drain,
    HealthServiceImpl health,
    TimeProvider time,
    ILogger<DrainService> logger) : IHostedLifecycleService
{
    public const string RouterServiceName = "llmrouter.v1.Router";

    // Time given to aborted streams to write their status before the listeners close.
    private static readonly TimeSpan AbortGrace = TimeSpan.FromSeconds(2);

    public Task StartingAsync(CancellationToken cancellationToken)
    {
        SetHealth(HealthCheckResponse.Types.ServingStatus.NotServing);
        return Task.CompletedTask;
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken)
    {
        SetHealth(HealthCheckResponse.Types.ServingStatus.Serving);
        LogReady(logger, host.Id, string.Join(", ", host.Seats.Select(seat => $"{seat.Name} {seat.Address}")));
        return Task.CompletedTask;
    }

    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        var settings = host.Current.Server;
        drain.BeginDrain();
        SetHealth(HealthCheckResponse.Types.ServingStatus.NotServing);
        LogDraining(logger, host.Id, drain.OpenStreams, settings.DrainTimeout.TotalSeconds);

        // Leave every pool (an intent, not a failure) and let health checkers and load balancers see
        // NOT_SERVING before anything closes.
        var started = time.GetTimestamp();
        var leaving = host.Seats.Select(seat => seat.Membership?.LeaveAsync(cancellationToken) ?? Task.CompletedTask);
        await Task.WhenAll([.. leaving, Delay(settings.DrainNotice, cancellationToken)]).ConfigureAwait(false);
        var remaining = settings.DrainTimeout - time.GetElapsedTime(started);
        var idle = drain.WhenIdle();
        if (await Task.WhenAny(idle, Delay(remaining, cancellationToken)).ConfigureAwait(false) != idle)
        {
            LogAborting(logger, drain.OpenStreams);
            drain.AbortOpenStreams();
            await Task.WhenAny(idle, Delay(AbortGrace, cancellationToken)).ConfigureAwait(false);
        }

        drain.FinishDrain();
        LogDrained(logger, host.Id, time.GetElapsedTime(started).TotalMilliseconds);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private void SetHealth(HealthCheckResponse.Types.ServingStatus status)
    {
        health.SetStatus("", status);
        health.SetStatus(RouterServiceName, status);
    }

    private async Task Delay(TimeSpan delay, CancellationToken cancellationToken)
    {
        if (delay <= TimeSpan.Zero)
        {
            return;
        }

        try
        {
            await Task.Delay(delay, time, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // The host's own shutdown timeout cut the drain short; stop waiting.
        }
    }

    [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "{Host} serving on {Listeners}")]
    private static partial void LogReady(ILogger logger, string host, string listeners);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Information, Message = "{Host} draining: health NOT_SERVING, new calls refused, {OpenStreams} open stream(s) get up to {DrainSeconds}s")]
    private static partial void LogDraining(ILogger logger, string host, int openStreams, double drainSeconds);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Warning, Message = "Drain bound reached with {OpenStreams} stream(s) open; ending them with UNAVAILABLE")]
    private static partial void LogAborting(ILogger logger, int openStreams);

    [LoggerMessage(EventId = 2004, Level = LogLevel.Information, Message = "{Host} drained in {ElapsedMs:0} ms")]
    private static partial void LogDrained(ILogger logger, string host, double elapsedMs);
}
