using Grpc.Core;
using LlmRouter.V1;
using Microsoft.AspNetCore.Http;

namespace LlmRouter.Common.Ingress;

/// <summary>
/// A streamed answer in one provider's SSE shape: the pipeline writes its frames here, the provider's
/// stream turns each into its events, and this base flushes them as the pipeline asks. An error after the
/// stream began can only be the provider's error event.
/// </summary>
internal abstract class IngressStream(HttpResponse response) : IServerStreamWriter<ChatResponse>
{
    public WriteOptions? WriteOptions { get; set; }

    protected HttpResponse Response => response;

    protected SseWriter Sse { get; } = new(response);

    public Task WriteAsync(ChatResponse message) => WriteAsync(message, CancellationToken.None);

    public async Task WriteAsync(ChatResponse message, CancellationToken cancellationToken)
    {
        Write(message);

        // BufferHint: the next frame follows at once and its flush carries both (StreamWrites); otherwise every
        // frame goes out now, so each token reaches the client as the backend yields it.
        var buffered = WriteOptions is { } options && (options.Flags & WriteFlags.BufferHint) != 0;
        if (!buffered || message.FrameCase == ChatResponse.FrameOneofCase.Completed)
        {
            await Sse.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Ends the stream with the provider's error event.</summary>
    /// <param name="param">The field at fault, for a provider whose errors name one.</param>
    public async Task FailAsync(int status, string message, string? param, CancellationToken cancellationToken)
    {
        WriteError(status, message, param);
        await Sse.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Writes the provider's events for one frame (not flushed).</summary>
    protected abstract void Write(ChatResponse frame);

    /// <summary>Writes the provider's error event (not flushed).</summary>
    protected abstract void WriteError(int status, string message, string? param);
}
