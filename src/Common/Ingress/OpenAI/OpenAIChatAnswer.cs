using System.Text.Json;
using LlmRouter.V1;

namespace LlmRouter.Common.Ingress.OpenAI;

/// <summary>A whole answer as OpenAI's chat.completion object.</summary>
internal static class OpenAIChatAnswer
{
    public static void Write(Utf8JsonWriter json, AnswerCollector answer, long created)
    {
        var route = answer.Route!;
        var completed = answer.Completed!;
        json.WriteStartObject();
        json.WriteString("id", $"chatcmpl-{route.RequestId}");
        json.WriteString("object", "chat.completion");
        json.WriteNumber("created", created);
        json.WriteString("model", route.Model);
        json.WriteStartArray("choices");
        json.WriteStartObject();
        json.WriteNumber("index", 0);
        json.WriteStartObject("message");
        json.WriteString("role", "assistant");
        var calls = answer.ToolCalls.ToList();
        if (answer.Text.Length == 0 && calls.Count > 0)
        {
            json.WriteNull("content");
        }
        else
        {
            json.WriteString("content", answer.Text);
        }

        json.WriteNull("refusal");
        if (calls.Count > 0)
        {
            json.WriteStartArray("tool_calls");
            foreach (var (id, name, arguments) in calls)
            {
                json.WriteStartObject();
                json.WriteString("id", id);
                json.WriteString("type", "function");
                json.WriteStartObject("function");
                json.WriteString("name", name);
                json.WriteString("arguments", arguments);
                json.WriteEndObject();
                json.WriteEndObject();
            }

            json.WriteEndArray();
        }

        json.WriteEndObject();
        json.WriteNull("logprobs");
        json.WriteString("finish_reason", OpenAIShapes.FinishReason(completed.FinishReason));
        json.WriteEndObject();
        json.WriteEndArray();
        json.WritePropertyName("usage");
        OpenAIShapes.Usage(json, completed.Usage);
        json.WriteNull("system_fingerprint");
        json.WriteStartObject("x_llmrouter");
        IngressRouting.WriteHops(json, completed);
        json.WriteEndObject();
        json.WriteEndObject();
    }
}
