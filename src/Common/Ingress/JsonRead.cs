using System.Text.Json;

namespace LlmRouter.Common.Ingress;

/// <summary>Typed reads of a JSON request body that fail with a 400 naming the field's path and the type it needs.</summary>
internal static class JsonRead
{
    public static string String(JsonElement value, string path)
    {
        if (value.ValueKind != JsonValueKind.String)
        {
            throw Wrong(path, "a string", value);
        }

        try
        {
            return value.GetString()!;
        }
        catch (InvalidOperationException)
        {
            // A lone surrogate escape (\ud800) or bytes that are not UTF-8: JSON's grammar allows the one, the reader the other.
            throw IngressException.Invalid(path, "not valid text (a lone surrogate or bytes that are not UTF-8)");
        }
    }

    public static string? OptionalString(JsonElement value, string path) =>
        value.ValueKind == JsonValueKind.Null ? null : String(value, path);

    public static bool Bool(JsonElement value, string path) =>
        value.ValueKind is JsonValueKind.True or JsonValueKind.False ? value.GetBoolean() : throw Wrong(path, "true or false", value);

    public static double Number(JsonElement value, string path) =>
        value.ValueKind == JsonValueKind.Number ? value.GetDouble() : throw Wrong(path, "a number", value);

    public static long Integer(JsonElement value, string path) =>
        value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var integer) ? integer : throw Wrong(path, "an integer", value);

    public static uint PositiveInteger(JsonElement value, string path)
    {
        var integer = Integer(value, path);
        return integer is >= 1 and <= uint.MaxValue ? (uint)integer : throw IngressException.Invalid(path, $"must be between 1 and {uint.MaxValue}, not {integer}");
    }

    public static JsonElement Object(JsonElement value, string path) =>
        value.ValueKind == JsonValueKind.Object ? value : throw Wrong(path, "an object", value);

    public static JsonElement Array(JsonElement value, string path) =>
        value.ValueKind == JsonValueKind.Array ? value : throw Wrong(path, "an array", value);

    /// <summary>A required property of an object.</summary>
    public static JsonElement Required(JsonElement parent, string name, string path) =>
        parent.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null
            ? value
            : throw IngressException.Invalid(path.Length > 0 ? $"{path}.{name}" : name, "required");

    /// <summary>An optional property; null when absent or JSON null.</summary>
    public static JsonElement? Optional(JsonElement parent, string name) =>
        parent.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null ? value : null;

    /// <summary>A JSON object given as the text of a schema or arguments, kept exactly as the client wrote it.</summary>
    public static string ObjectText(JsonElement value, string path) => Object(value, path).GetRawText();

    private static IngressException Wrong(string path, string expected, JsonElement value) =>
        IngressException.Invalid(path, $"must be {expected}, not {Describe(value.ValueKind)}");

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        _ => "null",
    };
}
