using System.Runtime.InteropServices;
using System.Text.Json;
using LlmRouter.V1;

namespace LlmRouter.Common.Ingress.OpenAI;

/// <summary>
/// OpenAI's embeddings API: input as one text or a list of texts (token arrays are refused: the mesh's
/// models take text), dimensions, and encoding_format float or base64 (little-endian float32, which the
/// official SDKs ask for by default and decode themselves).
/// </summary>
internal static class OpenAIEmbeddings
{
    public static (EmbedRequest Request, bool Base64) Read(JsonElement body)
    {
        JsonRead.Object(body, "body");
        var request = new EmbedRequest();
        var base64 = false;
        foreach (var property in body.EnumerateObject())
        {
            var value = property.Value;
            if (value.ValueKind == JsonValueKind.Null)
            {
                continue;
            }

            switch (property.Name)
            {
                case "model":
                    request.Model = JsonRead.String(value, "model");
                    break;
                case "input":
                    if (value.ValueKind == JsonValueKind.String)
                    {
                        request.Inputs.Add(JsonRead.String(value, "input"));
                        break;
                    }

                    var i = 0;
                    foreach (var input in JsonRead.Array(value, "input").EnumerateArray())
                    {
                        request.Inputs.Add(input.ValueKind == JsonValueKind.String
                            ? JsonRead.String(input, $"input[{i}]")
                            : throw IngressException.Invalid($"input[{i}]", "must be a text (token arrays are not supported: send the text)"));
                        i++;
                    }

                    break;
                case "dimensions":
                    request.Dimensions = JsonRead.PositiveInteger(value, "dimensions");
                    break;
                case "encoding_format":
                    var format = JsonRead.String(value, "encoding_format");
                    base64 = format switch
                    {
                        "float" => false,
                        "base64" => true,
                        _ => throw IngressException.Invalid("encoding_format", $"'{format}' is not an encoding (use float or base64)"),
                    };
                    break;
                case "user":
                    break;
                default:
                    throw IngressException.Invalid(property.Name, "unknown field: this API takes the fields of OpenAI's embeddings");
            }
        }

        if (request.Model.Length == 0)
        {
            throw IngressException.Invalid("model", "required: a model id, an alias, or \"auto\" (GET /v1/models lists them)");
        }

        return (request, base64);
    }

    public static void Write(Utf8JsonWriter json, EmbedResponse response, bool base64)
    {
        json.WriteStartObject();
        json.WriteString("object", "list");
        json.WriteStartArray("data");
        for (var i = 0; i < response.Embeddings.Count; i++)
        {
            json.WriteStartObject();
            json.WriteString("object", "embedding");
            json.WriteNumber("index", i);
            var values = response.Embeddings[i].Values;
            if (base64)
            {
                var floats = values.ToArray();
                json.WriteBase64String("embedding", MemoryMarshal.AsBytes(floats.AsSpan()));
            }
            else
            {
                json.WriteStartArray("embedding");
                foreach (var value in values)
                {
                    json.WriteNumberValue(value);
                }

                json.WriteEndArray();
            }

            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteString("model", response.Route.Model);
        json.WriteStartObject("usage");
        json.WriteNumber("prompt_tokens", response.Usage?.InputTokens ?? 0);
        json.WriteNumber("total_tokens", response.Usage?.TotalTokens ?? response.Usage?.InputTokens ?? 0);
        json.WriteEndObject();
        json.WriteEndObject();
    }
}
