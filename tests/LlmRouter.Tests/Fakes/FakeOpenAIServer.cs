using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace LlmRouter.Tests.Fakes;

/// <summary>
/// Speaks OpenAI's REST API as its API reference shows it: POST /v1/chat/completions (JSON, or SSE
/// chunks ending with <c>data: [DONE]</c> when stream is true), POST /v1/embeddings (float arrays or
/// base64), GET /v1/models, and OpenAI's error bodies.
/// </summary>
internal sealed class FakeOpenAIServer : FakeProviderServer
{
    private const long Created = 1_700_000_000;

    /// <summary>The base URL an OpenAI client uses as its endpoint.</summary>
    public Uri BaseUrl => new(Root, "/v1/");

    public static async Task<FakeOpenAIServer> StartAsync()
    {
        var server = new FakeOpenAIServer();
        await server.ListenAsync();
        return server;
    }

    protected override void Map(WebApplication app)
    {
        app.MapPost("/v1/chat/completions", ChatCompletions);
        app.MapPost("/v1/embeddings", Embeddings);
        app.MapGet("/v1/models", context => WriteJson(context, 200, new
        {
            @object = "list",
            data = new[] { new { id = "fake-model", @object = "model", created = Created, owned_by = "fake" } },
        }));
    }

    private static object Error(string message, string type) => new { error = new { message, type, param = (string?)null, code = (string?)null } };

    private static string ErrorType(int status) => status switch
    {
        401 => "invalid_request_error",
        429 => "rate_limit_error",
        >= 500 => "server_error",
        _ => "invalid_request_error",
    };

    private async Task<bool> Refused(HttpContext context, FakeReply reply)
    {
        if (RequiredApiKey is { } key && context.Request.Headers.Authorization.ToString() != $"Bearer {key}")
        {
            await WriteJson(context, 401, Error("Incorrect API key provided.", "invalid_request_error"));
            return true;
        }

        if (reply.ErrorStatus is { } status)
        {
            await WriteJson(context, status, Error(reply.ErrorMessage, ErrorType(status)), reply.RetryAfterSeconds);
            return true;
        }

        return false;
    }

    private async Task ChatCompletions(HttpContext context)
    {
        var body = await ReadBody(context);
        var reply = Limited(NextReply?.Invoke() ?? Reply, body);
        if (await Refused(context, reply))
        {
            return;
        }

        var model = body["model"]?.GetValue<string>() ?? "unknown";
        var usage = new { prompt_tokens = reply.InputTokens, completion_tokens = reply.Tokens.Count, total_tokens = reply.InputTokens + reply.Tokens.Count };
        if (body["stream"]?.GetValue<bool>() != true || reply.IgnoresStream)
        {
            await WriteJson(context, 200, new
            {
                id = "chatcmpl-fake",
                @object = "chat.completion",
                created = Created,
                model,
                choices = new[] { new { index = 0, message = new { role = "assistant", content = string.Concat(reply.Tokens) }, logprobs = (object?)null, finish_reason = "stop" } },
                usage,
            });
            return;
        }

        string Chunk(object delta, string? finish) => Event(new
        {
            id = "chatcmpl-fake",
            @object = "chat.completion.chunk",
            created = Created,
            model,
            system_fingerprint = (string?)null,
            choices = new[] { new { index = 0, delta, logprobs = (object?)null, finish_reason = finish } },
        });

        var finish = reply.Finish ?? (reply.ToolCall is null ? "stop" : "tool_calls");
        var afterTokens = new List<string>();
        if (reply.ToolCall is { } call)
        {
            afterTokens.Add(Chunk(new { tool_calls = new[] { new { index = 0, id = call.Id, type = "function", function = new { name = call.Name, arguments = "" } } } }, null));
            afterTokens.AddRange(call.ArgumentPieces.Select(piece => Chunk(new { tool_calls = new[] { new { index = 0, function = new { arguments = piece } } } }, null)));
        }

        var closing = new List<string>();
        if (reply.StreamErrorMessage is { } error)
        {
            closing.Add(Event(new { error = new { message = error, type = "server_error", param = (string?)null, code = (string?)null } }));
        }
        else if (reply.LocalServerStream)
        {
            closing.Add(Event(new
            {
                id = "chatcmpl-fake", @object = "chat.completion.chunk", created = Created, model,
                choices = new[] { new { index = 0, delta = new { }, finish_reason = finish } },
                usage,
            }));
        }
        else
        {
            closing.Add(Chunk(new { }, finish));
        }

        if (!reply.LocalServerStream && body["stream_options"]?["include_usage"]?.GetValue<bool>() == true)
        {
            closing.Add(Event(new { id = "chatcmpl-fake", @object = "chat.completion.chunk", created = Created, model, choices = Array.Empty<object>(), usage }));
        }

        closing.Add("data: [DONE]\n\n");
        if (reply.CutShort)
        {
            closing.Clear();
        }

        if (reply.ErrorLineMessage is { } line)
        {
            closing = [$"error: {JsonSerializer.Serialize(new { code = 500, message = line, type = "server_error" })}\n\n", "data: [DONE]\n\n"];
        }

        await StreamAsync(
            context,
            reply,
            opening: reply.LocalServerStream ? [] : [Chunk(new { role = "assistant", content = "" }, null)],
            tokenEvent: token => Chunk(new { content = token }, null),
            brokenEvent: "data: {\"id\":\"chatcmpl-fake\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\n\n",
            closing,
            afterTokens);
    }

    private async Task Embeddings(HttpContext context)
    {
        var reply = Reply;
        var body = await ReadBody(context);
        if (await Refused(context, reply))
        {
            return;
        }

        var inputs = body["input"] switch
        {
            JsonArray array => array.Select(item => item!.GetValue<string>()).ToList(),
            JsonValue single => [single.GetValue<string>()],
            _ => [],
        };
        var base64 = body["encoding_format"]?.GetValue<string>() == "base64";
        var data = inputs.Select((text, index) =>
        {
            var vector = Vector(text);
            object embedding = base64 ? Convert.ToBase64String(vector.SelectMany(BitConverter.GetBytes).ToArray()) : vector;
            return new { @object = "embedding", index, embedding };
        }).ToList();
        await WriteJson(context, 200, new
        {
            @object = "list",
            data,
            model = body["model"]?.GetValue<string>(),
            usage = new { prompt_tokens = inputs.Count * 2, total_tokens = inputs.Count * 2 },
        });
    }

    /// <summary>Eight floats derived from the text: equal texts, equal vectors.</summary>
    private static float[] Vector(string text) =>
        Enumerable.Range(0, 8).Select(i => (float)(((text.GetHashCode(StringComparison.Ordinal) >> i) & 0xFF) / 255.0 + text.Length + i)).ToArray();

    private static string Event(object payload) => $"data: {JsonSerializer.Serialize(payload)}\n\n";
}
