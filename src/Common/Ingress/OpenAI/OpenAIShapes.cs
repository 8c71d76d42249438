using System.Text.Json;
using Grpc.Core;
using LlmRouter.V1;

namespace LlmRouter.Common.Ingress.OpenAI;

/// <summary>Pieces of OpenAI's JSON shapes that the stream, the whole answer and the errors share.</summary>
internal static class OpenAIShapes
{
    public static string FinishReason(V1.FinishReason reason) => reason switch
    {
        V1.FinishReason.Length => "length",
        V1.FinishReason.ContentFilter => "content_filter",
        V1.FinishReason.ToolCalls => "tool_calls",
        _ => "stop",
    };

    public static void Usage(Utf8JsonWriter json, TokenUsage? usage)
    {
        json.WriteStartObject();
        json.WriteNumber("prompt_tokens", usage?.InputTokens ?? 0);
        json.WriteNumber("completion_tokens", usage?.OutputTokens ?? 0);
        json.WriteNumber("total_tokens", usage?.TotalTokens ?? (usage?.InputTokens ?? 0) + (usage?.OutputTokens ?? 0));
        json.WriteEndObject();
    }
}

/// <summary>OpenAI's error body (<c>{"error":{"message","type","param","code"}}</c>) and the type that goes with each HTTP status.</summary>
internal static class OpenAIErrors
{
    public static void Write(Utf8JsonWriter json, int status, string message, string? param)
    {
        json.WriteStartObject();
        json.WriteStartObject("error");
        json.WriteString("message", message);
        json.WriteString("type", Type(status));
        if (param is null)
        {
            json.WriteNull("param");
        }
        else
        {
            json.WriteString("param", param);
        }

        if (Code(status, param) is { } code)
        {
            json.WriteString("code", code);
        }
        else
        {
            json.WriteNull("code");
        }

        json.WriteEndObject();
        json.WriteEndObject();
    }

    private static string Type(int status) => status switch
    {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 or 400 or 415 or 422 => "invalid_request_error",
        429 => "rate_limit_error",
        503 or 504 => "service_unavailable_error",
        _ => status >= 500 ? "server_error" : "invalid_request_error",
    };

    private static string? Code(int status, string? param) => status switch
    {
        404 when param == "model" => "model_not_found",
        413 => "request_too_large",
        429 => "rate_limit_exceeded",
        _ => null,
    };
}
