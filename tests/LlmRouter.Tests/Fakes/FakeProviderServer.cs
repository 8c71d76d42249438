using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace LlmRouter.Tests.Fakes;

/// <summary>
/// A local HTTP server (real Kestrel socket on loopback) that speaks one LLM provider's wire format, for the
/// backend tests. It records the request bodies and counts streams that clients abandoned, so tests can
/// prove that a cancelled call closes the provider stream at once.
/// </summary>
internal abstract class FakeProviderServer : IAsyncDisposable
{
    private readonly List<JsonNode> _requests = [];
    private readonly List<string?> _traceParents = [];
    private readonly Lock _lock = new();
    private WebApplication? _app;
    private int _activeStreams;
    private int _cancelledStreams;
    private int _tokensWritten;

    public FakeReply Reply { get; set; } = new();

    /// <summary>When set, asked for each request's reply instead of <see cref="Reply"/> (fakes that share one sequence of replies).</summary>
    public Func<FakeReply>? NextReply { get; set; }

    /// <summary>When set, requests without this key are refused as the provider refuses them (401).</summary>
    public string? RequiredApiKey { get; set; }

    public Uri Root { get; private set; } = null!;

    public IReadOnlyList<JsonNode> Requests
    {
        get
        {
            lock (_lock)
            {
                return [.. _requests];
            }
        }
    }

    /// <summary>Each request's W3C <c>traceparent</c> header (null when it had none), in the order of <see cref="Requests"/>.</summary>
    public IReadOnlyList<string?> TraceParents
    {
        get
        {
            lock (_lock)
            {
                return [.. _traceParents];
            }
        }
    }

    public int ActiveStreams => Volatile.Read(ref _activeStreams);

    public int CancelledStreams => Volatile.Read(ref _cancelledStreams);

    public int TokensWritten => Volatile.Read(ref _tokensWritten);

    public async Task WaitForCancelledStreamsAsync(int count, TimeSpan timeout)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (CancelledStreams < count || ActiveStreams > 0)
        {
            if (clock.Elapsed > timeout)
            {
                throw new TimeoutException($"expected {count} cancelled stream(s) within {timeout.TotalSeconds}s; saw {CancelledStreams} cancelled, {ActiveStreams} active, {TokensWritten} tokens written");
            }

            await Task.Delay(10);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }

    protected async Task ListenAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        _app = builder.Build();
        Map(_app);
        await _app.StartAsync();
        Root = new Uri(_app.Urls.First());
    }

    protected abstract void Map(WebApplication app);

    /// <summary>
    /// The reply to this request: an echo of its last user message (<see cref="FakeReply.EchoPieces"/>), and as its
    /// token limit leaves it, when the reply reads one (<see cref="FakeReply.TokenLimitField"/>).
    /// </summary>
    protected static FakeReply Limited(FakeReply reply, JsonNode body)
    {
        if (reply.EchoPieces is { } size && body["messages"]?.AsArray().LastOrDefault(m => m?["role"]?.GetValue<string>() == "user")?["content"] is { } content)
        {
            var text = content is JsonValue ? content.GetValue<string>() : string.Concat(content.AsArray().Select(part => part?["text"]?.GetValue<string>() ?? ""));
            reply = reply with { Tokens = text.Chunk(size).Select(piece => new string(piece)).ToList() };
        }

        return reply.TokenLimitField is { } field && body[field] is { } limit
            ? reply with { Tokens = reply.Tokens.Take(limit.GetValue<int>()).ToList() }
            : reply;
    }

    protected async Task<JsonNode> ReadBody(HttpContext context)
    {
        var body = await JsonNode.ParseAsync(context.Request.Body) ?? new JsonObject();
        lock (_lock)
        {
            _requests.Add(body);
            _traceParents.Add(context.Request.Headers.TryGetValue("traceparent", out var traceParent) ? traceParent.ToString() : null);
        }

        return body;
    }

    protected static async Task WriteJson(HttpContext context, int status, object body, int? retryAfterSeconds = null)
    {
        context.Response.StatusCode = status;
        if (retryAfterSeconds is { } seconds)
        {
            context.Response.Headers["retry-after"] = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(JsonSerializer.Serialize(body));
    }

    /// <summary>
    /// Writes an SSE stream: the opening events, one event per token (paced as the reply says), the closing
    /// events. Every event is flushed on its own, as providers do.
    /// </summary>
    protected async Task StreamAsync(
        HttpContext context,
        FakeReply reply,
        IEnumerable<string> opening,
        Func<string, string> tokenEvent,
        string brokenEvent,
        IEnumerable<string> closing,
        IEnumerable<string>? afterTokens = null)
    {
        var aborted = context.RequestAborted;
        context.Response.ContentType = "text/event-stream";
        context.Response.Headers.CacheControl = "no-cache";
        Interlocked.Increment(ref _activeStreams);
        try
        {
            foreach (var item in opening)
            {
                await Send(context, item);
            }

            await Task.Delay(reply.DelayBeforeFirstToken, aborted);
            var index = 0;
            foreach (var token in reply.Tokens)
            {
                if (index > 0)
                {
                    await Task.Delay(reply.DelayBetweenTokens, aborted);
                }

                if (index == reply.StallAfterTokens)
                {
                    await Task.Delay(Timeout.InfiniteTimeSpan, aborted);
                }

                aborted.ThrowIfCancellationRequested();
                await Send(context, tokenEvent(token));
                Interlocked.Increment(ref _tokensWritten);
                if (reply.MalformedStream)
                {
                    await Send(context, brokenEvent);
                    return;
                }

                index++;
            }

            foreach (var item in (afterTokens ?? []).Concat(closing))
            {
                await Send(context, item);
            }
        }
        catch (Exception ex) when (aborted.IsCancellationRequested && ex is OperationCanceledException or IOException)
        {
            Interlocked.Increment(ref _cancelledStreams);
        }
        finally
        {
            Interlocked.Decrement(ref _activeStreams);
        }
    }

    private static async Task Send(HttpContext context, string sseEvent)
    {
        await context.Response.Body.WriteAsync(Encoding.UTF8.GetBytes(sseEvent), context.RequestAborted);
        await context.Response.Body.FlushAsync(context.RequestAborted);
    }
}
