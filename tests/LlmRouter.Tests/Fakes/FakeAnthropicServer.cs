using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace LlmRouter.Tests.Fakes;

/// <summary>
/// Speaks Anthropic's Messages API as its reference shows it: POST /v1/messages (JSON, or named SSE
/// events message_start, content_block_start, ping, content_block_delta, content_block_stop,
/// message_delta, message_stop when stream is true) and Anthropic's error bodies.
/// </summary>
internal sealed class FakeAnthropicServer : FakeProviderServer
{
    /// <summary>The base URL the Anthropic SDK takes (it appends v1/messages).</summary>
    public Uri BaseUrl => Root;

    public static async Task<FakeAnthropicServer> StartAsync()
    {
        var server = new FakeAnthropicServer();
        await server.ListenAsync();
        return server;
    }

    protected override void Map(WebApplication app) => app.MapPost("/v1/messages", Messages);

    private static object Error(string type, string message) => new { type = "error", error = new { type, message } };

    private static string ErrorType(int status) => status switch
    {
        400 => "invalid_request_error",
        401 => "authentication_error",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        _ => "api_error",
    };

    private async Task Messages(HttpContext context)
    {
        var body = await ReadBody(context);
        var reply = Limited(NextReply?.Invoke() ?? Reply, body);
        context.Response.Headers["request-id"] = "req_fake";
        // The API takes the key as x-api-key; the official SDK (13.x) sends it as a bearer token.
        if (RequiredApiKey is { } key
            && context.Request.Headers["x-api-key"].ToString() != key
            && context.Request.Headers.Authorization.ToString() != $"Bearer {key}")
        {
            await WriteJson(context, 401, Error("authentication_error", "invalid x-api-key"));
            return;
        }

        if (reply.ErrorStatus is { } status)
        {
            await WriteJson(context, status, Error(ErrorType(status), reply.ErrorMessage), reply.RetryAfterSeconds);
            return;
        }

        var model = body["model"]?.GetValue<string>() ?? "unknown";
        if (body["stream"]?.GetValue<bool>() != true)
        {
            await WriteJson(context, 200, new
            {
                id = "msg_fake",
                type = "message",
                role = "assistant",
                model,
                content = new[] { new { type = "text", text = string.Concat(reply.Tokens) } },
                stop_reason = "end_turn",
                stop_sequence = (string?)null,
                usage = new { input_tokens = reply.InputTokens, output_tokens = reply.Tokens.Count },
            });
            return;
        }

        await StreamAsync(
            context,
            reply,
            opening:
            [
                Event("message_start", new
                {
                    type = "message_start",
                    message = new
                    {
                        id = "msg_fake",
                        type = "message",
                        role = "assistant",
                        content = Array.Empty<object>(),
                        model,
                        stop_reason = (string?)null,
                        stop_sequence = (string?)null,
                        usage = new { input_tokens = reply.InputTokens, output_tokens = 1 },
                    },
                }),
                Event("content_block_start", new { type = "content_block_start", index = 0, content_block = new { type = "text", text = "" } }),
                Event("ping", new { type = "ping" }),
            ],
            tokenEvent: token => Event("content_block_delta", new { type = "content_block_delta", index = 0, delta = new { type = "text_delta", text = token } }),
            brokenEvent: "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\n\n",
            closing:
            [
                Event("message_delta", new { type = "message_delta", delta = new { stop_reason = reply.ToolCall is null ? "end_turn" : "tool_use", stop_sequence = (string?)null }, usage = new { output_tokens = reply.Tokens.Count } }),
                Event("message_stop", new { type = "message_stop" }),
            ],
            afterTokens: ToolUse(reply));
    }

    /// <summary>The end of the text block, then the tool call as a tool_use block whose input streams as input_json_delta events.</summary>
    private static List<string> ToolUse(FakeReply reply)
    {
        var events = new List<string> { Event("content_block_stop", new { type = "content_block_stop", index = 0 }) };
        if (reply.ToolCall is { } call)
        {
            events.Add(Event("content_block_start", new { type = "content_block_start", index = 1, content_block = new { type = "tool_use", id = call.Id, name = call.Name, input = new { } } }));
            events.AddRange(call.ArgumentPieces.Select(piece => Event("content_block_delta", new { type = "content_block_delta", index = 1, delta = new { type = "input_json_delta", partial_json = piece } })));
            events.Add(Event("content_block_stop", new { type = "content_block_stop", index = 1 }));
        }

        return events;
    }

    private static string Event(string name, object payload) => $"event: {name}\ndata: {JsonSerializer.Serialize(payload)}\n\n";
}
