using System.Buffers;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace LlmRouter.Common.Ingress;

/// <summary>
/// Writes server-sent events straight into the response's pipe: one JSON writer reused for every event,
/// nothing buffered beyond what the next flush sends (each token is flushed as it arrives unless the next
/// one is already there).
/// </summary>
internal sealed class SseWriter(HttpResponse response)
{
    private readonly Utf8JsonWriter _json = new(response.BodyWriter, Options);

    /// <summary>JSON as the providers write it: no HTML escaping of quotes and angle brackets (this is an API, not a page).</summary>
    public static JsonWriterOptions Options { get; } = new() { SkipValidation = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Opens the stream: 200, text/event-stream, no caching, no buffering by proxies.</summary>
    public void Start()
    {
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-cache";
        response.Headers["x-accel-buffering"] = "no";
    }

    /// <summary>Writes one event whose data is the JSON <paramref name="write"/> produces, with an event name when given.</summary>
    public void Event(string? name, Action<Utf8JsonWriter> write)
    {
        var pipe = response.BodyWriter;
        if (name is not null)
        {
            pipe.Write("event: "u8);
            Text(name);
            pipe.Write("\n"u8);
        }

        pipe.Write("data: "u8);
        _json.Reset(pipe);
        write(_json);
        _json.Flush();
        pipe.Write("\n\n"u8);
    }

    /// <summary>Writes a data line as it is (OpenAI's closing "[DONE]").</summary>
    public void Raw(string data)
    {
        response.BodyWriter.Write("data: "u8);
        Text(data);
        response.BodyWriter.Write("\n\n"u8);
    }

    public async Task FlushAsync(CancellationToken cancellationToken) =>
        await response.BodyWriter.FlushAsync(cancellationToken).ConfigureAwait(false);

    private void Text(string text) => response.BodyWriter.Write(System.Text.Encoding.UTF8.GetBytes(text));
}
