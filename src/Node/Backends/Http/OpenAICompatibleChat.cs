using System.Net.Http.Headers;
using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using LlmRouter.Common.Configuration;
using LlmRouter.V1;
using Microsoft.Extensions.AI;

namespace LlmRouter.Node.Backends.Http;

/// <summary>
/// A chat on an OpenAI-compatible server (LM Studio, Ollama, vLLM, llama.cpp, ...), spoken on the wire
/// without an SDK: the request is written straight from the Router API's (<see cref="OpenAIChatBody"/>) and
/// each SSE event is read from its bytes as it arrives (<see cref="OpenAIChunkReader"/>). Local servers are
/// the hot path of the mesh and differ from OpenAI in small ways (the token limit field, chunks without a
/// role, usage only at the end, a whole answer where a stream was asked for); the official SDK cost a
/// fifth of the node's time per request in the peer benchmark, this reader a small part of that.
/// OpenAI itself goes through the official SDK (<see cref="SdkBackendChat"/>).
/// </summary>
internal sealed class OpenAICompatibleChat(HttpClient http, BackendConfig backend, ModelConfig model, string? apiKey) : IBackendChat
{
    // An error body is read for its message only; a server that sends more is cut off here.
    private const int MaxErrorBody = 64 * 1024;

    // A whole answer from a server that ignored "stream" (a stream has no such bound: it is relayed as it comes).
    private const int MaxWholeAnswer = 16 * 1024 * 1024;

    private static readonly MediaTypeWithQualityHeaderValue EventStream = new("text/event-stream");

    private readonly Uri _completions = new(backend.BaseUrl!.AbsoluteUri.TrimEnd('/') + "/chat/completions");

    public async IAsyncEnumerable<ChatResponseUpdate> StreamAsync(ChatRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var message = new HttpRequestMessage(HttpMethod.Post, _completions)
        {
            Content = OpenAIChatBody.Create(request, model.UpstreamModel, backend.MaxTokensField),
        };
        message.Headers.Accept.Add(EventStream);
        if (!string.IsNullOrEmpty(apiKey))
        {
            message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        }

        // Disposing the response (the client left, a watchdog fired) closes the connection: the server stops generating.
        using var response = await http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw new BackendReplyException((int)response.StatusCode, await ErrorMessageAsync(response, cancellationToken).ConfigureAwait(false));
        }

        var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        if (response.Content.Headers.ContentType?.MediaType == "application/json")
        {
            // A server that ignores "stream": the whole completion, read the same way as a chunk.
            var whole = await ReadBoundedAsync(body, MaxWholeAnswer, cancellationToken).ConfigureAwait(false);
            if (OpenAIChunkReader.Read(whole.Span) is { } answer)
            {
                yield return answer;
            }

            yield break;
        }

        var finished = false;
        await foreach (var item in SseParser.Create(body, ParseEvent).EnumerateAsync(cancellationToken).ConfigureAwait(false))
        {
            if (item.Data is not { } update)
            {
                continue;
            }

            if (ReferenceEquals(update, Done))
            {
                break;
            }

            finished |= update.FinishReason is not null;
            yield return update;
        }

        // Every whole answer ends with a finish reason. A stream without one was cut short (the connection
        // closed, or llama.cpp's "error:" line, which is not an SSE data line, came before "data: [DONE]"):
        // failover must see the backend's failure, not an answer that ended.
        if (!finished)
        {
            throw new InvalidDataException("the stream ended without a finish reason (cut short, or an error the server sent outside its data lines)");
        }
    }

    // Stands for "data: [DONE]", the end of an OpenAI stream.
    private static readonly ChatResponseUpdate Done = new();

    private static ChatResponseUpdate? ParseEvent(string eventType, ReadOnlySpan<byte> data)
    {
        if (data.SequenceEqual("[DONE]"u8))
        {
            return Done;
        }

        // Comments and empty events (keep-alives) carry nothing.
        return data.IsEmpty ? null : OpenAIChunkReader.Read(data);
    }

    /// <summary>A body read whole, refused beyond <paramref name="limit"/> bytes.</summary>
    private static async Task<ReadOnlyMemory<byte>> ReadBoundedAsync(Stream body, int limit, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await body.ReadAsync(chunk, cancellationToken).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + read > limit)
            {
                throw new InvalidDataException($"a whole answer over {limit / (1024 * 1024)} MiB");
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.GetBuffer().AsMemory(0, (int)buffer.Length);
    }

    /// <summary>The provider's own words from an error body: OpenAI's error.message, vLLM's message, or the text.</summary>
    private static async Task<string> ErrorMessageAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var buffer = new byte[MaxErrorBody];
        var length = 0;
        await using (var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false))
        {
            int read;
            while (length < buffer.Length && (read = await body.ReadAsync(buffer.AsMemory(length), cancellationToken).ConfigureAwait(false)) > 0)
            {
                length += read;
            }
        }

        var text = buffer.AsSpan(0, length);
        try
        {
            var reader = new Utf8JsonReader(text);
            if (reader.Read() && reader.TokenType == JsonTokenType.StartObject)
            {
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    var name = reader.GetString();
                    reader.Read();
                    if (name is "error" or "message" or "detail" && OpenAIChunkReader.ErrorMessage(ref reader) is { } message)
                    {
                        return message;
                    }

                    reader.Skip();
                }
            }
        }
        catch (JsonException)
        {
            // Not JSON: the text itself is the message.
        }

        var plain = Encoding.UTF8.GetString(text).Trim();
        return plain.Length switch
        {
            0 => $"HTTP {(int)response.StatusCode} without a body",
            > 500 => plain[..500] + "...",
            _ => plain,
        };
    }
}
