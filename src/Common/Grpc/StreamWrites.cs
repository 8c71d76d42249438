using Grpc.Core;

namespace LlmRouter.Common.Grpc;

/// <summary>Writes to a server stream that leave the flush to the next write, when one follows at once.</summary>
internal static class StreamWrites
{
    private static readonly WriteOptions Buffered = new(WriteFlags.BufferHint);

    /// <param name="flush">False only when another write follows immediately (it sends both); the last write of a burst flushes.</param>
    public static async Task WriteAsync<T>(this IServerStreamWriter<T> stream, T message, bool flush, CancellationToken cancellationToken)
    {
        if (flush)
        {
            await stream.WriteAsync(message, cancellationToken).ConfigureAwait(false);
            return;
        }

        var options = stream.WriteOptions;
        stream.WriteOptions = Buffered;
        try
        {
            await stream.WriteAsync(message, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            stream.WriteOptions = options;
        }
    }
}
