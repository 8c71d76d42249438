using System.Globalization;
using System.Text;
using System.Text.Json;

namespace LlmRouter.Node.Backends.Simulated;

/// <summary>
/// Deterministic JSON that satisfies a JSON Schema, for the simulated backend's tool call arguments and
/// structured answers: the same schema and seed always give the same text. It follows type, const, enum,
/// properties and required, items and prefixItems with minItems/maxItems, minLength/maxLength, the common
/// string formats (date-time, date, time, email, uri, uuid, ipv4, hostname), minimum/maximum (exclusive
/// too) and multipleOf, anyOf/oneOf (the first branch), allOf (merged objects) and local $ref. It does not
/// try to satisfy pattern, not, if/then/else or dependent schemas; see README "Simulated backend".
/// </summary>
internal static class SimulatedJson
{
    private const int MaxDepth = 12;

    // Below this depth only required properties are written, so a schema that refers to itself ends.
    private const int OptionalDepth = 3;

    // A schema can ask for more than any answer holds (minItems 1000 at each of several levels): past this
    // size the request is refused, naming the limit, rather than the node running out of memory.
    public const int MaxBytes = 64 * 1024;

    private static readonly string[] Words =
    [
        "mesh", "route", "node", "model", "token", "answer", "gossip", "subnet", "border", "stream", "quick", "steady",
    ];

    /// <summary>A JSON text satisfying <paramref name="schema"/> (a schema's JSON text).</summary>
    /// <exception cref="SimulatedJsonTooLargeException">Every instance of the schema is larger than <see cref="MaxBytes"/>.</exception>
    public static string Instance(string schema, ulong seed)
    {
        using var document = JsonDocument.Parse(schema);
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            new Generator(document.RootElement, writer).Write(document.RootElement, seed, 0);
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private sealed class Generator(JsonElement root, Utf8JsonWriter writer)
    {
        public void Write(JsonElement schema, ulong seed, int depth)
        {
            if (writer.BytesPending + writer.BytesCommitted > MaxBytes)
            {
                throw new SimulatedJsonTooLargeException();
            }

            if (schema.ValueKind == JsonValueKind.False)
            {
                writer.WriteNullValue();
                return;
            }

            if (schema.ValueKind != JsonValueKind.Object)
            {
                writer.WriteStringValue(Word(seed));
                return;
            }

            if (schema.TryGetProperty("$ref", out var reference) && depth < MaxDepth && Resolve(reference.GetString()) is { } target)
            {
                Write(target, seed, depth + 1);
                return;
            }

            if (schema.TryGetProperty("const", out var constant))
            {
                constant.WriteTo(writer);
                return;
            }

            if (schema.TryGetProperty("enum", out var values) && values.GetArrayLength() > 0)
            {
                values[(int)(SimulatedText.Mix(seed) % (ulong)values.GetArrayLength())].WriteTo(writer);
                return;
            }

            foreach (var keyword in (ReadOnlySpan<string>)["anyOf", "oneOf"])
            {
                if (schema.TryGetProperty(keyword, out var branches) && branches.GetArrayLength() > 0)
                {
                    Write(branches[0], seed, depth + 1);
                    return;
                }
            }

            switch (TypeOf(schema))
            {
                case "object":
                    WriteObject(schema, seed, depth);
                    break;
                case "array":
                    WriteArray(schema, seed, depth);
                    break;
                case "integer":
                    writer.WriteNumberValue(Integer(schema, seed));
                    break;
                case "number":
                    writer.WriteRawValue(Number(schema, seed).ToString("R", CultureInfo.InvariantCulture));
                    break;
                case "boolean":
                    writer.WriteBooleanValue((SimulatedText.Mix(seed) & 1) == 1);
                    break;
                case "null":
                    writer.WriteNullValue();
                    break;
                default:
                    writer.WriteStringValue(Text(schema, seed));
                    break;
            }
        }

        private void WriteObject(JsonElement schema, ulong seed, int depth)
        {
            // allOf's object branches add their properties and requirements to this schema's.
            var properties = new List<JsonProperty>();
            var required = new List<string>();
            Collect(schema, properties, required, depth);
            writer.WriteStartObject();
            var written = new HashSet<string>(StringComparer.Ordinal);
            var index = 0UL;
            foreach (var property in properties)
            {
                if ((depth >= OptionalDepth && !required.Contains(property.Name, StringComparer.Ordinal)) || !written.Add(property.Name))
                {
                    continue;
                }

                writer.WritePropertyName(property.Name);
                if (depth >= MaxDepth)
                {
                    writer.WriteNullValue();
                }
                else
                {
                    Write(property.Value, SimulatedText.Hash(seed + index++, property.Name), depth + 1);
                }
            }

            foreach (var name in required.Where(written.Add))
            {
                writer.WriteString(name, Word(SimulatedText.Hash(seed, name)));
            }

            writer.WriteEndObject();
        }

        private void Collect(JsonElement schema, List<JsonProperty> properties, List<string> required, int depth)
        {
            if (schema.TryGetProperty("$ref", out var reference) && depth < MaxDepth && Resolve(reference.GetString()) is { } target)
            {
                Collect(target, properties, required, depth + 1);
            }

            if (schema.TryGetProperty("properties", out var declared) && declared.ValueKind == JsonValueKind.Object)
            {
                properties.AddRange(declared.EnumerateObject());
            }

            if (schema.TryGetProperty("required", out var names) && names.ValueKind == JsonValueKind.Array)
            {
                required.AddRange(names.EnumerateArray().Select(n => n.GetString()!));
            }

            if (schema.TryGetProperty("allOf", out var all) && depth < MaxDepth)
            {
                foreach (var branch in all.EnumerateArray().Where(b => b.ValueKind == JsonValueKind.Object))
                {
                    Collect(branch, properties, required, depth + 1);
                }
            }
        }

        private void WriteArray(JsonElement schema, ulong seed, int depth)
        {
            var min = Int(schema, "minItems") ?? 0;
            var max = Int(schema, "maxItems") ?? int.MaxValue;
            // Draft 2020-12 writes a tuple as prefixItems; drafts 6 to 2019-09 as an array in items.
            var tuple = schema.TryGetProperty("items", out var items) && items.ValueKind == JsonValueKind.Array;
            var prefixItems = tuple ? items : schema.TryGetProperty("prefixItems", out var prefixed) ? prefixed : default;
            var prefix = prefixItems.ValueKind == JsonValueKind.Array ? prefixItems.GetArrayLength() : 0;
            var rest = tuple ? (schema.TryGetProperty("additionalItems", out var additional) ? additional : default) : items;
            if (rest.ValueKind == JsonValueKind.False)
            {
                max = Math.Min(max, prefix);
            }

            var count = Math.Min(Math.Max(Math.Max(min, Math.Min(prefix, max)), Math.Min(2, max)), Math.Max(max, min));
            writer.WriteStartArray();
            for (var i = 0; i < count && depth < MaxDepth; i++)
            {
                var item = i < prefix ? prefixItems[i] : rest;
                if (item.ValueKind == JsonValueKind.Undefined)
                {
                    writer.WriteStringValue(Word(seed + (ulong)i));
                }
                else
                {
                    Write(item, SimulatedText.Mix(seed + (ulong)i), depth + 1);
                }
            }

            writer.WriteEndArray();
        }

        private JsonElement? Resolve(string? reference)
        {
            if (reference is null || !reference.StartsWith('#'))
            {
                return null;
            }

            var node = root;
            foreach (var segment in reference[1..].Split('/', StringSplitOptions.RemoveEmptyEntries))
            {
                var name = Uri.UnescapeDataString(segment).Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal);
                if (node.ValueKind != JsonValueKind.Object || !node.TryGetProperty(name, out node))
                {
                    return null;
                }
            }

            return node;
        }

        private static string? TypeOf(JsonElement schema)
        {
            if (schema.TryGetProperty("type", out var type))
            {
                if (type.ValueKind == JsonValueKind.String)
                {
                    return type.GetString();
                }

                if (type.ValueKind == JsonValueKind.Array)
                {
                    var names = type.EnumerateArray().Select(t => t.GetString()).ToList();
                    return names.FirstOrDefault(n => n != "null") ?? names.FirstOrDefault();
                }
            }

            return schema.TryGetProperty("properties", out _) || schema.TryGetProperty("required", out _) || schema.TryGetProperty("allOf", out _) ? "object"
                : schema.TryGetProperty("items", out _) || schema.TryGetProperty("prefixItems", out _) ? "array"
                : schema.TryGetProperty("minimum", out _) || schema.TryGetProperty("maximum", out _) ? "number"
                : "string";
        }

        private static long Integer(JsonElement schema, ulong seed)
        {
            // In doubles, clamped to what a long and JSON readers hold exactly: bounds like ±1e19 must not overflow.
            const double Largest = 9007199254740991; // 2^53 - 1
            var low = Math.Clamp(Math.Ceiling(Bound(schema, "minimum", "exclusiveMinimum", up: true, step: 1) ?? 0), -Largest, Largest);
            var high = Math.Clamp(Math.Floor(Bound(schema, "maximum", "exclusiveMaximum", up: false, step: 1) ?? low + 100), -Largest, Largest);
            var fraction = (SimulatedText.Mix(seed) % 1_000_000) / 1_000_000.0;
            if (Double(schema, "multipleOf") is { } step && step >= 1)
            {
                var multiple = Math.Floor(step);
                var first = Math.Ceiling(low / multiple) * multiple;
                var steps = high >= first ? Math.Floor((high - first) / multiple) : 0;
                return (long)(first + (multiple * Math.Floor(fraction * (steps + 1))));
            }

            return high > low ? (long)(low + Math.Floor(fraction * (high - low + 1))) : (long)low;
        }

        private static double Number(JsonElement schema, ulong seed)
        {
            if (Double(schema, "multipleOf") is { } step && step > 0)
            {
                var low = Bound(schema, "minimum", "exclusiveMinimum", up: true, step: step) ?? 0;
                return Math.Ceiling(low / step) * step;
            }

            var min = Bound(schema, "minimum", "exclusiveMinimum", up: true, step: 0.001) ?? 0;
            var max = Bound(schema, "maximum", "exclusiveMaximum", up: false, step: 0.001) ?? min + 100;
            var fraction = (SimulatedText.Mix(seed) % 1000) / 1000.0;
            return Math.Round(min + ((max - min) * fraction), 3) is var value && value >= min && value <= max ? value : min;
        }

        /// <summary>The inclusive bound a schema sets; an exclusive one is moved inward by <paramref name="step"/>.</summary>
        private static double? Bound(JsonElement schema, string inclusive, string exclusive, bool up, double step)
        {
            var bound = Double(schema, inclusive);
            if (Double(schema, exclusive) is { } open)
            {
                var inward = up ? open + step : open - step;
                bound = bound is { } b ? (up ? Math.Max(b, inward) : Math.Min(b, inward)) : inward;
            }

            return bound;
        }

        private static string Text(JsonElement schema, ulong seed)
        {
            var n = SimulatedText.Mix(seed);
            var text = (schema.TryGetProperty("format", out var format) ? format.GetString() : null) switch
            {
                "date-time" => $"2026-{1 + (n % 12):00}-{1 + (n % 28):00}T{n % 24:00}:{n % 60:00}:00Z",
                "date" => $"2026-{1 + (n % 12):00}-{1 + (n % 28):00}",
                "time" => $"{n % 24:00}:{n % 60:00}:00Z",
                "email" => $"{Word(seed)}{n % 100}@example.com",
                "uri" or "url" => $"https://example.com/{Word(seed)}/{n % 1000}",
                "uuid" => new Guid(BitConverter.GetBytes(n).Concat(BitConverter.GetBytes(SimulatedText.Mix(n))).ToArray()).ToString(),
                "ipv4" => $"10.{n % 256}.{(n >> 8) % 256}.{(n >> 16) % 256}",
                "hostname" => $"{Word(seed)}.example.com",
                _ => $"{Word(seed)} {Word(seed + 1)}",
            };
            var minLength = Int(schema, "minLength") ?? 0;
            var maxLength = Int(schema, "maxLength") ?? int.MaxValue;
            while (text.Length < minLength)
            {
                text += " " + Word(seed + (ulong)text.Length);
            }

            return text.Length > maxLength ? text[..maxLength] : text;
        }

        private static string Word(ulong seed) => Words[SimulatedText.Mix(seed) % (ulong)Words.Length];

        private static int? Int(JsonElement schema, string keyword) =>
            schema.TryGetProperty(keyword, out var value) && value.ValueKind == JsonValueKind.Number ? (int)Math.Min(value.GetDouble(), 1000) : null;

        private static double? Double(JsonElement schema, string keyword) =>
            schema.TryGetProperty(keyword, out var value) && value.ValueKind == JsonValueKind.Number ? value.GetDouble() : null;
    }
}

/// <summary>Every instance of a schema is larger than <see cref="SimulatedJson.MaxBytes"/>.</summary>
internal sealed class SimulatedJsonTooLargeException()
    : Exception($"every instance of this schema is larger than the {SimulatedJson.MaxBytes} bytes the simulated backend writes (minItems, minLength or required properties at many levels)");
