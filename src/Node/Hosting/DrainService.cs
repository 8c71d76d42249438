using Grpc.Health.V1;
using Grpc.HealthCheck;
using LlmRouter.Node.Catalog;
using LlmRouter.Node.Membership;

namespace LlmRouter.Node.Hosting;

/// <summary>
/// Graceful shutdown (issue 2, DESIGN.md 7). On stop, before Kestrel closes its listeners: health turns
/// NOT_SERVING, new calls are refused with UNAVAILABLE, open streams get up to drain_timeout to finish, and
/// any still open after that end with UNAVAILABLE. Health turns SERVING once the node has started.
/// </summary>
internal sealed partial class DrainService(
    DrainState drain,
    HealthServiceImpl health,
    NodeCatalog catalog,
    MembershipRuntime membership,
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
        LogReady(logger, catalog.NodeId, catalog.Current.Node.Listen.ToString());
        return Task.CompletedTask;
    }

    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        var settings = catalog.Current.Mesh.Server;
        drain.BeginDrain();
        SetHealth(HealthCheckResponse.Types.ServingStatus.NotServing);
        LogDraining(logger, catalog.NodeId, drain.OpenStreams, settings.DrainTimeout.TotalSeconds);

        // Leave the pool (an intent, not a failure) and let health checkers and load balancers see
        // NOT_SERVING before anything closes.
        var started = time.GetTimestamp();
        await Task.WhenAll(membership.LeaveAsync(cancellationToken), Delay(settings.DrainNotice, cancellationToken)).ConfigureAwait(false);
        var remaining = settings.DrainTimeout - time.GetElapsedTime(started);
        var idle = drain.WhenIdle();
        if (await Task.WhenAny(idle, Delay(remaining, cancellationToken)).ConfigureAwait(false) != idle)
        {
            LogAborting(logger, drain.OpenStreams);
            drain.AbortOpenStreams();
            await Task.WhenAny(idle, Delay(AbortGrace, cancellationToken)).ConfigureAwait(false);
        }

        drain.FinishDrain();
        LogDrained(logger, catalog.NodeId, time.GetElapsedTime(started).TotalMilliseconds);
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

    [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "Node {NodeId} serving on {Listen}")]
    private static partial void LogReady(ILogger logger, string nodeId, string listen);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Information, Message = "Node {NodeId} draining: health NOT_SERVING, new calls refused, {OpenStreams} open stream(s) get up to {DrainSeconds}s")]
    private static partial void LogDraining(ILogger logger, string nodeId, int openStreams, double drainSeconds);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Warning, Message = "Drain bound reached with {OpenStreams} stream(s) open; ending them with UNAVAILABLE")]
    private static partial void LogAborting(ILogger logger, int openStreams);

    [LoggerMessage(EventId = 2004, Level = LogLevel.Information, Message = "Node {NodeId} drained in {ElapsedMs:0} ms")]
    private static partial void LogDrained(ILogger logger, string nodeId, double elapsedMs);
}
