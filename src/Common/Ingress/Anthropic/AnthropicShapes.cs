using System.Text.Json;
using LlmRouter.V1;

namespace LlmRouter.Common.Ingress.Anthropic;

/// <summary>Pieces of Anthropic's JSON shapes that the stream, the whole answer and the errors share.</summary>
internal static class AnthropicShapes
{
    public static string StopReason(FinishReason reason) => reason switch
    {
        FinishReason.Length => "max_tokens",
        FinishReason.ToolCalls => "tool_use",
        FinishReason.ContentFilter => "refusal",
        _ => "end_turn",
    };

    public static void Usage(Utf8JsonWriter json, TokenUsage? usage)
    {
        json.WriteStartObject("usage");
        json.WriteNumber("input_tokens", usage?.InputTokens ?? 0);
        json.WriteNumber("output_tokens", usage?.OutputTokens ?? 0);
        json.WriteEndObject();
    }

    /// <summary>Anthropic's error body: <c>{"type":"error","error":{"type","message"}}</c>.</summary>
    public static void Error(Utf8JsonWriter json, int status, string message)
    {
        json.WriteStartObject();
        json.WriteString("type", "error");
        json.WriteStartObject("error");
        json.WriteString("type", status switch
        {
            400 or 415 or 422 => "invalid_request_error",
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            413 => "request_too_large",
            429 => "rate_limit_error",
            503 => "overloaded_error",
            504 => "timeout_error",
            _ => "api_error",
        });
        json.WriteString("message", message);
        json.WriteEndObject();
        json.WriteEndObject();
    }

    /// <summary>A tool call's input as a JSON object: its arguments when they are one, else an empty object.</summary>
    public static void Input(Utf8JsonWriter json, string arguments)
    {
        try
        {
            using var document = JsonDocument.Parse(arguments.Length > 0 ? arguments : "{}");
            if (document.RootElement.ValueKind == JsonValueKind.Object)
            {
                document.RootElement.WriteTo(json);
                return;
            }
        }
        catch (JsonException)
        {
            // Arguments that are not JSON cannot be an input object; the empty one stands in.
        }

        json.WriteStartObject();
        json.WriteEndObject();
    }
}
