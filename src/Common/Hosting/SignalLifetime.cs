using System.Runtime.InteropServices;

using Microsoft.Extensions.Hosting;

namespace LlmRouter.Common.Hosting;

/// <summary>
/// Replaces the console lifetime, whose SIGTERM handling signals "application stopping" before any hosted
/// service can drain. Here a SIGTERM or Ctrl+C starts the host's stop in its normal order: the drain
/// (health NOT_SERVING, new calls refused, open streams finish on the connections they use), then the
/// listeners close. <see cref="WaitForSignalAsync"/> completes on the first signal.
/// </summary>
internal sealed class SignalLifetime : IHostLifetime, IDisposable
{
    private readonly TaskCompletionSource _signalled = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<PosixSignalRegistration> _registrations = [];

    public SignalLifetime()
    {
        foreach (var signal in new[] { PosixSignal.SIGTERM, PosixSignal.SIGINT, PosixSignal.SIGQUIT })
        {
            _registrations.Add(PosixSignalRegistration.Create(signal, context =>
            {
                // Keep the process alive: the host stops it once the drain is over.
                context.Cancel = true;
                _signalled.TrySetResult();
            }));
        }
    }

    public Task WaitForSignalAsync() => _signalled.Task;

    public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose()
    {
        foreach (var registration in _registrations)
        {
            registration.Dispose();
        }
    }
}
