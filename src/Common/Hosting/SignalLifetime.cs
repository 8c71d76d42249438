using System.Runtime.InteropServices;

using Microsoft.Extensions.Hosting;

namespace LlmRouter.Common.Hosting;

/// <summary>
/// Replaces the console lifetime, whose SIGTERM handling signals "application stopping" before any hosted
/// service can drain. Here a SIGTERM or Ctrl+C starts the host's stop in its normal order: the drain
/// (health NOT_SERVING, new calls refused, open streams finish on the connections they use), then the
/// listeners close. <see cref="WaitForSignalAsync"/> completes on the first signal, or, for a process
/// started by another that owns it (<see cref="StopWhenInputCloses"/>), when that parent goes away.
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

    /// <summary>
    /// Also stops (as a signal would) when standard input reaches its end. A parent that starts this process
    /// with a pipe on its input and holds the writing end (as <c>up</c> does) owns it: however the parent
    /// ends, even killed with SIGKILL, the operating system closes the pipe, and this process drains and exits
    /// instead of living on as an orphan.
    /// </summary>
    public void StopWhenInputCloses() => _ = Task.Run(async () =>
    {
        try
        {
            await using var input = Console.OpenStandardInput();
            var buffer = new byte[64];
            while (await input.ReadAsync(buffer).ConfigureAwait(false) > 0)
            {
                // The parent writes nothing; anything it does write is ignored.
            }
        }
        catch (IOException)
        {
            // A broken pipe is the end of input too.
        }

        _signalled.TrySetResult();
    });

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
