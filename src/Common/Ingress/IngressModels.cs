using System.Text.Json;

namespace LlmRouter.Common.Ingress;

/// <summary>The models list in OpenAI's shape and in Anthropic's (told apart by the anthropic-version header the Anthropic SDKs send).</summary>
internal static class IngressModels
{
    // The mesh does not know when a model was made; a fixed time keeps the field valid and stable.
    private const long Created = 1_700_000_000;

    public static void WriteOpenAI(Utf8JsonWriter json, IReadOnlyList<string> models)
    {
        json.WriteStartObject();
        json.WriteString("object", "list");
        json.WriteStartArray("data");
        foreach (var model in models)
        {
            WriteOpenAIModel(json, model);
        }

        json.WriteEndArray();
        json.WriteEndObject();
    }

    public static void WriteOpenAIModel(Utf8JsonWriter json, string model)
    {
        json.WriteStartObject();
        json.WriteString("id", model);
        json.WriteString("object", "model");
        json.WriteNumber("created", Created);
        json.WriteString("owned_by", "llmrouter");
        json.WriteEndObject();
    }

    public static void WriteAnthropic(Utf8JsonWriter json, IReadOnlyList<string> models)
    {
        json.WriteStartObject();
        json.WriteStartArray("data");
        foreach (var model in models)
        {
            WriteAnthropicModel(json, model);
        }

        json.WriteEndArray();
        json.WriteBoolean("has_more", false);
        if (models.Count > 0)
        {
            json.WriteString("first_id", models[0]);
            json.WriteString("last_id", models[^1]);
        }
        else
        {
            json.WriteNull("first_id");
            json.WriteNull("last_id");
        }

        json.WriteEndObject();
    }

    public static void WriteAnthropicModel(Utf8JsonWriter json, string model)
    {
        json.WriteStartObject();
        json.WriteString("type", "model");
        json.WriteString("id", model);
        json.WriteString("display_name", model);
        json.WriteString("created_at", DateTimeOffset.FromUnixTimeSeconds(Created).ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture));
        json.WriteEndObject();
    }
}
