using System.Text.Json;
using System.Text.Json.Nodes;

namespace LlmRouter.Common.Protection;

/// <summary>
/// Text that may be JSON (a tool's result, a tool call's arguments): a change made to each of its string values
/// rather than to the text, so the JSON stays valid whatever the change, and a value written with escapes
/// (<c>alice\u0040example.com</c>) is seen as it reads. Text that is not a JSON object or array is changed whole.
/// </summary>
internal static class JsonStrings
{
    // Only what JSON requires is escaped: a value reads in the text as it reads in the JSON.
    private static readonly JsonSerializerOptions Relaxed = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The text with <paramref name="map"/> applied to each string value (not to property names) when it is JSON, else to the whole.</summary>
    public static string Map(string text, Func<string, string> map)
    {
        var trimmed = text.AsSpan().TrimStart();
        if (trimmed.IsEmpty || (trimmed[0] != '{' && trimmed[0] != '['))
        {
            return map(text);
        }

        JsonNode? node;
        try
        {
            node = JsonNode.Parse(text);
        }
        catch (JsonException)
        {
            return map(text);
        }

        return node is null ? map(text) : Walk(node, map).ToJsonString(Relaxed);
    }

    private static JsonNode Walk(JsonNode node, Func<string, string> map)
    {
        switch (node)
        {
            case JsonObject json:
                foreach (var name in json.Select(p => p.Key).ToList())
                {
                    if (json[name] is { } value)
                    {
                        json[name] = Walk(value, map);
                    }
                }

                return json;
            case JsonArray array:
                for (var i = 0; i < array.Count; i++)
                {
                    if (array[i] is { } item)
                    {
                        array[i] = Walk(item, map);
                    }
                }

                return array;
            case JsonValue value when value.GetValueKind() == JsonValueKind.String:
                return JsonValue.Create(map(value.GetValue<string>()));
            default:
                return node;
        }
    }
}
