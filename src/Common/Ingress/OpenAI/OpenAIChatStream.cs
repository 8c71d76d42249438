using System.Text.Json;
using LlmRouter.V1;
using Microsoft.AspNetCore.Http;

namespace LlmRouter.Common.Ingress.OpenAI;

/// <summary>
/// The pipeline's answer frames as OpenAI's chat completion chunks over SSE, as its API reference shows
/// them: a first chunk with the assistant role, one chunk per text delta or tool call delta, a chunk with
/// the finish reason, the usage chunk (no choices) when stream_options.include_usage asked for it, then
/// <c>data: [DONE]</c>. The route goes out in response headers with the first token; the hop timings ride in
/// an <c>x_llmrouter</c> member of the finish chunk, and a seam in one of an empty chunk where it happens
/// (OpenAI's SDKs ignore the member).
/// </summary>
internal sealed class OpenAIChatStream(HttpResponse response, bool includeUsage, long created) : IngressStream(response)
{
    private readonly HashSet<uint> _calls = [];
    private string _id = "";
    private string _model = "";

    protected override void Write(ChatResponse frame)
    {
        switch (frame.FrameCase)
        {
            case ChatResponse.FrameOneofCase.Route:
                Start(frame.Route);
                break;
            case ChatResponse.FrameOneofCase.Delta:
                Chunk(json => json.WriteString("content", frame.Delta.Text), finish: null);
                break;
            case ChatResponse.FrameOneofCase.ToolCall:
                ToolCallChunk(frame.ToolCall);
                break;
            case ChatResponse.FrameOneofCase.Seam:
                Chunk(_ => { }, finish: null, extension: json => Seam(json, frame.Seam));
                break;
            case ChatResponse.FrameOneofCase.Completed:
                Complete(frame.Completed);
                break;
        }
    }

    /// <summary>OpenAI's error object as a data event, and no [DONE].</summary>
    protected override void WriteError(int status, string message, string? param) =>
        Sse.Event(null, json => OpenAIErrors.Write(json, status, message, param));

    private void Start(RouteInfo route)
    {
        _id = $"chatcmpl-{route.RequestId}";
        _model = route.Model;
        IngressRouting.SetRoute(Response, route);
        Sse.Start();
        Chunk(json =>
        {
            json.WriteString("role", "assistant");
            json.WriteString("content", "");
        }, finish: null);
    }

    private void ToolCallChunk(ToolCallDelta call) => Chunk(json =>
    {
        json.WriteStartArray("tool_calls");
        json.WriteStartObject();
        json.WriteNumber("index", call.Index);
        var first = _calls.Add(call.Index);
        if (first)
        {
            json.WriteString("id", call.Id);
            json.WriteString("type", "function");
        }

        json.WriteStartObject("function");
        if (first)
        {
            json.WriteString("name", call.Name);
        }

        json.WriteString("arguments", call.Arguments);
        json.WriteEndObject();
        json.WriteEndObject();
        json.WriteEndArray();
    }, finish: null);

    private void Complete(ChatCompleted completed)
    {
        Chunk(_ => { }, OpenAIShapes.FinishReason(completed.FinishReason), extension: json => IngressRouting.WriteHops(json, completed));
        if (includeUsage)
        {
            Sse.Event(null, json =>
            {
                Header(json);
                json.WriteStartArray("choices");
                json.WriteEndArray();
                json.WritePropertyName("usage");
                OpenAIShapes.Usage(json, completed.Usage);
                json.WriteEndObject();
            });
        }

        Sse.Raw("[DONE]");
    }

    private void Chunk(Action<Utf8JsonWriter> delta, string? finish, Action<Utf8JsonWriter>? extension = null) => Sse.Event(null, json =>
    {
        Header(json);
        json.WriteStartArray("choices");
        json.WriteStartObject();
        json.WriteNumber("index", 0);
        json.WriteStartObject("delta");
        delta(json);
        json.WriteEndObject();
        json.WriteNull("logprobs");
        if (finish is null)
        {
            json.WriteNull("finish_reason");
        }
        else
        {
            json.WriteString("finish_reason", finish);
        }

        json.WriteEndObject();
        json.WriteEndArray();
        if (includeUsage)
        {
            json.WriteNull("usage");
        }

        if (extension is not null)
        {
            json.WriteStartObject("x_llmrouter");
            extension(json);
            json.WriteEndObject();
        }

        json.WriteEndObject();
    });

    private void Header(Utf8JsonWriter json)
    {
        json.WriteStartObject();
        json.WriteString("id", _id);
        json.WriteString("object", "chat.completion.chunk");
        json.WriteNumber("created", created);
        json.WriteString("model", _model);
        json.WriteNull("system_fingerprint");
    }

    private static void Seam(Utf8JsonWriter json, Seam seam)
    {
        json.WriteStartObject("seam");
        json.WriteNumber("offset", seam.Offset);
        json.WriteString("reason", seam.Reason);
        json.WriteString("serving_node", seam.Route.ServingNode);
        json.WriteString("backend", seam.Route.Backend);
        json.WriteEndObject();
    }
}
