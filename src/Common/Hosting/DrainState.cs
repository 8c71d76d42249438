using Grpc.Core;

namespace LlmRouter.Common.Hosting;

/// <summary>
/// Whether this host (node or integrator) still takes new work, and which streams are still open. Draining refuses new calls
/// with UNAVAILABLE (a client retries elsewhere) and lets open streams finish until the drain bound, after
/// which <see cref="StreamsAborted"/> ends them with a status instead of a dropped connection.
/// </summary>
internal sealed class DrainState
{
    private readonly CancellationTokenSource _abort = new();
    private readonly CancellationTokenSource _drained = new();
    private readonly Lock _lock = new();
    private TaskCompletionSource _idle = CompletedIdle();
    private int _open;
    private volatile bool _draining;

    public bool IsDraining => _draining;

    public int OpenStreams => Volatile.Read(ref _open);

    /// <summary>Cancelled when the drain bound passes with streams still open.</summary>
    public CancellationToken StreamsAborted => _abort.Token;

    /// <summary>Cancelled when the drain is over and the listeners are about to close.</summary>
    public CancellationToken Drained => _drained.Token;

    public void BeginDrain() => _draining = true;

    public void AbortOpenStreams() => _abort.Cancel();

    public void FinishDrain() => _drained.Cancel();

    /// <summary>Refuses the call when draining; otherwise counts it open until the returned handle is disposed.</summary>
    public IDisposable Enter(string hostId)
    {
        if (_draining)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, $"'{hostId}' is draining and takes no new requests; retry on another node"));
        }

        lock (_lock)
        {
            if (_open++ == 0)
            {
                _idle = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
        }

        return new OpenStream(this);
    }

    /// <summary>Completes when no stream is open.</summary>
    public Task WhenIdle()
    {
        lock (_lock)
        {
            return _idle.Task;
        }
    }

    private static TaskCompletionSource CompletedIdle()
    {
        var idle = new TaskCompletionSource();
        idle.SetResult();
        return idle;
    }

    private void Exit()
    {
        TaskCompletionSource? idle = null;
        lock (_lock)
        {
            if (--_open == 0)
            {
                idle = _idle;
            }
        }

        idle?.TrySetResult();
    }

    private sealed class OpenStream(DrainState owner) : IDisposable
    {
        private int _closed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _closed, 1) == 0)
            {
                owner.Exit();
            }
        }
    }
}
