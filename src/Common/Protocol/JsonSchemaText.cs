using System.Text.Json;
using Json.Schema;

namespace LlmRouter.Common.Protocol;

/// <summary>
/// Checks JSON Schema that clients send (tool parameters, structured output) before a backend sees it: it
/// must be JSON, a JSON object, and valid against the meta-schema of the draft it declares ($schema: draft
/// 6, 7, 2019-09 or 2020-12; 2020-12 when it declares none). A backend that gets a broken schema fails in
/// its own words, or worse, ignores it; the client gets the field and the first problem instead.
/// </summary>
internal static class JsonSchemaText
{
    private static readonly EvaluationOptions ListOutput = new() { OutputFormat = OutputFormat.List };

    /// <summary>The first problem with <paramref name="text"/> as a JSON Schema, or null when it is a valid one.</summary>
    public static string? Problem(string text)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(text);
        }
        catch (JsonException ex)
        {
            return $"not valid JSON ({ex.Message})";
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return $"a JSON Schema here must be a JSON object, not {Article(root.ValueKind)}";
            }

            var meta = MetaSchemaOf(root, out var declared);
            if (meta is null)
            {
                return $"$schema: '{declared}' is not a JSON Schema draft this mesh checks (use draft 2020-12, 2019-09, 7 or 6)";
            }

            var result = meta.Evaluate(root, ListOutput);
            if (result.IsValid)
            {
                return null;
            }

            var error = (result.Details ?? [])
                .Where(detail => detail.Errors is { Count: > 0 })
                .Select(detail => $"at '{(detail.InstanceLocation.ToString() is { Length: > 0 } at ? at : "/")}': {detail.Errors!.Values.First()}")
                .FirstOrDefault();
            return $"not a valid JSON Schema ({error ?? "it does not follow its draft's meta-schema"})";
        }
    }

    /// <summary>Whether the text is a JSON object (tool call arguments); empty counts as the empty object.</summary>
    public static string? ObjectProblem(string text)
    {
        if (text.Length == 0)
        {
            return null;
        }

        try
        {
            using var document = JsonDocument.Parse(text);
            return document.RootElement.ValueKind == JsonValueKind.Object ? null : $"must be a JSON object, not {Article(document.RootElement.ValueKind)}";
        }
        catch (JsonException ex)
        {
            return $"not valid JSON ({ex.Message})";
        }
    }

    /// <summary>The schema's "type" when it names one type (a valid schema, already checked); null otherwise.</summary>
    public static string? DeclaredType(string text)
    {
        using var document = JsonDocument.Parse(text);
        return document.RootElement.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String ? type.GetString() : null;
    }

    private static JsonSchema? MetaSchemaOf(JsonElement schema, out string declared)
    {
        declared = schema.TryGetProperty("$schema", out var value) && value.ValueKind == JsonValueKind.String ? value.GetString()! : "";
        return declared.TrimEnd('#') switch
        {
            "" or "https://json-schema.org/draft/2020-12/schema" => MetaSchemas.Draft202012,
            "https://json-schema.org/draft/2019-09/schema" => MetaSchemas.Draft201909,
            "http://json-schema.org/draft-07/schema" or "https://json-schema.org/draft-07/schema" => MetaSchemas.Draft7,
            "http://json-schema.org/draft-06/schema" or "https://json-schema.org/draft-06/schema" => MetaSchemas.Draft6,
            _ => null,
        };
    }

    private static string Article(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        _ => "null",
    };
}
