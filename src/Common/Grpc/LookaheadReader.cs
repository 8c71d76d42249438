using Grpc.Core;

namespace LlmRouter.Common.Grpc;

/// <summary>
/// A gRPC response stream read one message ahead, so a relay can see whether the next message has already
/// arrived: then it writes the current one without a flush and the next write carries both, and a burst
/// (a zero-latency backend, several events in one network read) leaves in one flush instead of one per
/// message. It never holds a message back: when the next one is not here yet, the current one is flushed.
/// </summary>
internal sealed class LookaheadReader<T>(IAsyncStreamReader<T> reader, CancellationToken cancellationToken) : IDisposable
    where T : class
{
    private Task<bool>? _next;

    public T Current { get; private set; } = null!;

    /// <summary>True when the message after <see cref="Current"/> has already arrived: writing Current need not flush.</summary>
    public bool NextArrived => _next is { IsCompletedSuccessfully: true, Result: true };

    public async Task<bool> MoveNextAsync()
    {
        if (!await (_next ?? reader.MoveNext(cancellationToken)).ConfigureAwait(false))
        {
            _next = null;
            return false;
        }

        Current = reader.Current;
        _next = reader.MoveNext(cancellationToken);
        return true;
    }

    /// <summary>A read still pending when the relay stops ends with the call; its failure is observed here, not left unobserved.</summary>
    public void Dispose()
    {
        if (_next is { IsCompleted: false } pending)
        {
            _ = pending.ContinueWith(static read => _ = read.Exception, CancellationToken.None,
                TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
        else
        {
            _ = _next?.Exception;
        }
    }
}
