using Grpc.Health.V1;
using Grpc.HealthCheck;
using LlmRouter.Integrator.Border;

namespace LlmRouter.Integrator.Hosting;

/// <summary>
/// grpc.health.v1 for the integrator: SERVING once every pool's membership has started, NOT_SERVING from
/// the moment shutdown begins (it has left its pools; members route elsewhere while open streams finish).
/// </summary>
internal sealed class IntegratorHealth(HealthServiceImpl health, BorderPools pools) : IHostedLifecycleService
{
    public Task StartingAsync(CancellationToken cancellationToken)
    {
        health.SetStatus("", HealthCheckResponse.Types.ServingStatus.NotServing);
        return Task.CompletedTask;
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken)
    {
        if (pools.Started)
        {
            health.SetStatus("", HealthCheckResponse.Types.ServingStatus.Serving);
        }

        return Task.CompletedTask;
    }

    public Task StoppingAsync(CancellationToken cancellationToken)
    {
        health.SetStatus("", HealthCheckResponse.Types.ServingStatus.NotServing);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
