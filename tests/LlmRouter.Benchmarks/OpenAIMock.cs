using System.Text;
using System.Text.Json;

namespace LlmRouter.Benchmarks;

/// <summary>
/// The upstream every HTTP gateway in the peer benchmark stands in front of: an OpenAI chat completions
/// server with nothing behind it (Kestrel, HTTP/1.1, plain, loopback). A whole answer is sent at once; a
/// stream sends its role chunk and first token at once, then, for model "paced", 63 more deltas 20 ms apart
/// (the Busbar pace), for any other model max_tokens deltas (default 8) back to back, then the finish chunk
/// and <c>data: [DONE]</c>. Streams carry X-Accel-Buffering: no, as providers' do, so nginx passes them on
/// unbuffered with its default settings.
/// </summary>
internal static class OpenAIMock
{
    public const string PacedModel = "paced";
    public const int PacedDeltas = 64;
    public static readonly TimeSpan Pace = TimeSpan.FromMilliseconds(20);

    private static readonly byte[] Whole = Encoding.UTF8.GetBytes(
        """{"id":"chatcmpl-mock","object":"chat.completion","created":1700000000,"model":"mock","choices":[{"index":0,"message":{"role":"assistant","content":"Hello from the mock.","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":5,"total_tokens":10}}""");

    private static readonly byte[] Role = Chunk("""{"role":"assistant","content":""}""", "null");
    private static readonly byte[] Token = Chunk("""{"content":" token"}""", "null");
    private static readonly byte[] Finish = Chunk("{}", "\"stop\"");
    private static readonly byte[] Done = "data: [DONE]\n\n"u8.ToArray();

    /// <summary><c>llmrouter-bench serve-openai-mock PORT</c>: the mock as a process of its own, until killed.</summary>
    public static async Task<int> ServeAsync(int port)
    {
        var builder = LoopbackHttp1.Builder(port);
        await using var app = builder.Build();
        app.MapPost("/v1/chat/completions", ChatAsync);
        app.MapGet("/v1/models", context => context.Response.WriteAsync("""{"object":"list","data":[{"id":"mock","object":"model","created":1700000000,"owned_by":"mock"}]}"""));
        await app.StartAsync();
        Console.WriteLine($"openai mock serving on http://127.0.0.1:{port}");
        await app.WaitForShutdownAsync();
        return 0;
    }

    private static async Task ChatAsync(HttpContext context)
    {
        using var body = await JsonDocument.ParseAsync(context.Request.Body);
        var root = body.RootElement;
        var stream = root.TryGetProperty("stream", out var s) && s.ValueKind == JsonValueKind.True;
        var model = root.TryGetProperty("model", out var m) ? m.GetString() : null;
        var response = context.Response;
        if (!stream)
        {
            response.ContentType = "application/json";
            response.ContentLength = Whole.Length;
            await response.Body.WriteAsync(Whole);
            return;
        }

        var paced = model == PacedModel;
        var count = paced ? PacedDeltas : MaxTokens(root) ?? 8;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        var aborted = context.RequestAborted;
        var started = TimeProvider.System.GetTimestamp();
        await response.Body.WriteAsync(Role, aborted);
        for (var i = 0; i < count; i++)
        {
            if (paced && i > 0)
            {
                // Due times from the start, so a late write never pushes the next one later.
                var wait = (Pace * i) - TimeProvider.System.GetElapsedTime(started);
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, aborted);
                }
            }

            await response.Body.WriteAsync(Token, aborted);
            await response.Body.FlushAsync(aborted);
        }

        await response.Body.WriteAsync(Finish, aborted);
        await response.Body.WriteAsync(Done, aborted);
    }

    private static int? MaxTokens(JsonElement root) =>
        (root.TryGetProperty("max_tokens", out var max) || root.TryGetProperty("max_completion_tokens", out max)) && max.ValueKind == JsonValueKind.Number ? max.GetInt32() : null;

    private static byte[] Chunk(string delta, string finish) => Encoding.UTF8.GetBytes(
        $$"""data: {"id":"chatcmpl-mock","object":"chat.completion.chunk","created":1700000000,"model":"mock","system_fingerprint":null,"choices":[{"index":0,"delta":{{delta}},"logprobs":null,"finish_reason":{{finish}}}]}""" + "\n\n");
}
