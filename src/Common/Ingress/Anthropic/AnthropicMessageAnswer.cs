using System.Text.Json;

namespace LlmRouter.Common.Ingress.Anthropic;

/// <summary>A whole answer as Anthropic's Message object.</summary>
internal static class AnthropicMessageAnswer
{
    public static void Write(Utf8JsonWriter json, AnswerCollector answer)
    {
        var route = answer.Route!;
        var completed = answer.Completed!;
        json.WriteStartObject();
        json.WriteString("id", $"msg_{route.RequestId}");
        json.WriteString("type", "message");
        json.WriteString("role", "assistant");
        json.WriteString("model", route.Model);
        json.WriteStartArray("content");
        if (answer.Text.Length > 0)
        {
            json.WriteStartObject();
            json.WriteString("type", "text");
            json.WriteString("text", answer.Text);
            json.WriteEndObject();
        }

        foreach (var (id, name, arguments) in answer.ToolCalls)
        {
            json.WriteStartObject();
            json.WriteString("type", "tool_use");
            json.WriteString("id", id);
            json.WriteString("name", name);
            json.WritePropertyName("input");
            AnthropicShapes.Input(json, arguments);
            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteString("stop_reason", AnthropicShapes.StopReason(completed.FinishReason));
        json.WriteNull("stop_sequence");
        AnthropicShapes.Usage(json, completed.Usage);
        json.WriteEndObject();
    }
}
