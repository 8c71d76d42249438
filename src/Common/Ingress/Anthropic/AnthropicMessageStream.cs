using System.Text.Json;
using LlmRouter.V1;
using Microsoft.AspNetCore.Http;

namespace LlmRouter.Common.Ingress.Anthropic;

/// <summary>
/// The pipeline's answer frames as Anthropic's Messages SSE events, in its order: message_start, then for
/// each block of the answer content_block_start, its content_block_delta events (text_delta, or
/// input_json_delta for a tool_use block) and content_block_stop, then message_delta with the stop reason
/// and usage, and message_stop. A block opens when its first delta arrives, so nothing waits for the next.
/// Anthropic's events have no place for a seam: a continuation's text follows in the same text block, and
/// message_delta's <c>x_llmrouter</c> member says the answer was continued.
/// </summary>
internal sealed class AnthropicMessageStream(HttpResponse response) : IngressStream(response)
{
    private int _block = -1;
    private bool _blockOpen;
    private uint? _callIndex;

    protected override void Write(ChatResponse frame)
    {
        switch (frame.FrameCase)
        {
            case ChatResponse.FrameOneofCase.Route:
                Start(frame.Route);
                break;
            case ChatResponse.FrameOneofCase.Delta:
                Text(frame.Delta.Text);
                break;
            case ChatResponse.FrameOneofCase.ToolCall:
                ToolUse(frame.ToolCall);
                break;
            case ChatResponse.FrameOneofCase.Completed:
                Complete(frame.Completed);
                break;
        }
    }

    /// <summary>Anthropic's error event (its errors name no field).</summary>
    protected override void WriteError(int status, string message, string? param) =>
        Sse.Event("error", json => AnthropicShapes.Error(json, status, message));

    private void Start(RouteInfo route)
    {
        IngressRouting.SetRoute(Response, route);
        Response.Headers["request-id"] = route.RequestId;
        Sse.Start();
        Sse.Event("message_start", json =>
        {
            json.WriteStartObject();
            json.WriteString("type", "message_start");
            json.WriteStartObject("message");
            json.WriteString("id", $"msg_{route.RequestId}");
            json.WriteString("type", "message");
            json.WriteString("role", "assistant");
            json.WriteStartArray("content");
            json.WriteEndArray();
            json.WriteString("model", route.Model);
            json.WriteNull("stop_reason");
            json.WriteNull("stop_sequence");
            // The usage is known only when the answer ends; message_delta carries it.
            AnthropicShapes.Usage(json, null);
            json.WriteEndObject();
            json.WriteEndObject();
        });
    }

    private void Text(string text)
    {
        if (!_blockOpen || _callIndex is not null)
        {
            Open(json =>
            {
                json.WriteString("type", "text");
                json.WriteString("text", "");
            });
            _callIndex = null;
        }

        Delta(json =>
        {
            json.WriteString("type", "text_delta");
            json.WriteString("text", text);
        });
    }

    private void ToolUse(ToolCallDelta call)
    {
        if (!_blockOpen || _callIndex != call.Index)
        {
            Open(json =>
            {
                json.WriteString("type", "tool_use");
                json.WriteString("id", call.Id);
                json.WriteString("name", call.Name);
                json.WriteStartObject("input");
                json.WriteEndObject();
            });
            _callIndex = call.Index;
        }

        if (call.Arguments.Length > 0)
        {
            Delta(json =>
            {
                json.WriteString("type", "input_json_delta");
                json.WriteString("partial_json", call.Arguments);
            });
        }
    }

    private void Complete(ChatCompleted completed)
    {
        Close();
        Sse.Event("message_delta", json =>
        {
            json.WriteStartObject();
            json.WriteString("type", "message_delta");
            json.WriteStartObject("delta");
            json.WriteString("stop_reason", AnthropicShapes.StopReason(completed.FinishReason));
            json.WriteNull("stop_sequence");
            json.WriteEndObject();
            AnthropicShapes.Usage(json, completed.Usage);
            json.WriteStartObject("x_llmrouter");
            IngressRouting.WriteHops(json, completed);
            json.WriteEndObject();
            json.WriteEndObject();
        });
        Sse.Event("message_stop", json =>
        {
            json.WriteStartObject();
            json.WriteString("type", "message_stop");
            json.WriteEndObject();
        });
    }

    private void Open(Action<Utf8JsonWriter> block)
    {
        Close();
        _block++;
        _blockOpen = true;
        Sse.Event("content_block_start", json =>
        {
            json.WriteStartObject();
            json.WriteString("type", "content_block_start");
            json.WriteNumber("index", _block);
            json.WriteStartObject("content_block");
            block(json);
            json.WriteEndObject();
            json.WriteEndObject();
        });
    }

    private void Delta(Action<Utf8JsonWriter> delta) => Sse.Event("content_block_delta", json =>
    {
        json.WriteStartObject();
        json.WriteString("type", "content_block_delta");
        json.WriteNumber("index", _block);
        json.WriteStartObject("delta");
        delta(json);
        json.WriteEndObject();
        json.WriteEndObject();
    });

    private void Close()
    {
        if (!_blockOpen)
        {
            return;
        }

        _blockOpen = false;
        Sse.Event("content_block_stop", json =>
        {
            json.WriteStartObject();
            json.WriteString("type", "content_block_stop");
            json.WriteNumber("index", _block);
            json.WriteEndObject();
        });
    }
}
