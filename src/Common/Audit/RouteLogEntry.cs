using System.Buffers;
using System.Text.Json;

namespace LlmRouter.Common.Audit;

/// <summary>
/// What one process did with one request (issue 14): one entry per request per node or integrator it touched, never
/// its prompt or answer. The entry names the request, the caller's tenant and model, and this hop.
/// It records the route (the path, the serving node and backend), the labels and policies applied, and how many
/// values were masked (by kind, never the values). It also records which guardrails fired, how it ended, the tokens
/// and the timings. Written as one line of JSON in a fixed field order, so the bytes a leaf is hashed from are the
/// bytes on disk.
/// </summary>
public sealed record RouteLogEntry
{
    public required string RequestId { get; init; }

    public required DateTimeOffset Time { get; init; }

    /// <summary>chat or embeddings.</summary>
    public required string Operation { get; init; }

    /// <summary>entry (the request entered the mesh here) or forwarded.</summary>
    public required string Hop { get; init; }

    public required string Tenant { get; init; }

    /// <summary>The model the request asked for.</summary>
    public required string Model { get; init; }

    /// <summary>The members the request passed through before and including this one.</summary>
    public IReadOnlyList<string> Path { get; init; } = [];

    public string ServingNode { get; init; } = "";

    public string Backend { get; init; } = "";

    /// <summary>The model that served (an alias or auto resolved).</summary>
    public string ServedModel { get; init; } = "";

    public IReadOnlyList<string> Labels { get; init; } = [];

    /// <summary>Policies that acted on the request here (masking:leaving_subnet, a guardrail's name).</summary>
    public IReadOnlyList<string> Policies { get; init; } = [];

    /// <summary>Distinct values masked here, by kind (EMAIL: 2).</summary>
    public IReadOnlyDictionary<string, int> Masked { get; init; } = new Dictionary<string, int>();

    /// <summary>Guardrails that fired, each with its verdict (injection:block).</summary>
    public IReadOnlyList<string> Guardrails { get; init; } = [];

    /// <summary>whole, continued or failed.</summary>
    public required string Outcome { get; init; }

    /// <summary>The gRPC status the request ended with here.</summary>
    public required string Status { get; init; }

    public int Attempts { get; init; }

    public ulong InputTokens { get; init; }

    public ulong OutputTokens { get; init; }

    public double FirstTokenMs { get; init; }

    public double TotalMs { get; init; }

    /// <summary>
    /// The entry as its log line (no newline): the log's own fields first, its position and the hash of the entry before
    /// it (an edit or a removal breaks the next entry's link, naming the entry exactly), then the entry's.
    /// </summary>
    public byte[] Serialize(string node, long index, ReadOnlySpan<byte> previousLeaf)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteNumber("index", index);
            json.WriteString("prev", Convert.ToHexStringLower(previousLeaf));
            json.WriteString("node", node);
            json.WriteString("time", Time.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture));
            json.WriteString("request_id", RequestId);
            json.WriteString("operation", Operation);
            json.WriteString("hop", Hop);
            json.WriteString("tenant", Tenant);
            json.WriteString("model", Model);
            WriteList(json, "path", Path);
            json.WriteString("serving_node", ServingNode);
            json.WriteString("backend", Backend);
            json.WriteString("served_model", ServedModel);
            WriteList(json, "labels", Labels);
            WriteList(json, "policies", Policies);
            json.WriteStartObject("masked");
            foreach (var (kind, count) in Masked.OrderBy(m => m.Key, StringComparer.Ordinal))
            {
                json.WriteNumber(kind, count);
            }

            json.WriteEndObject();
            WriteList(json, "guardrails", Guardrails);
            json.WriteString("outcome", Outcome);
            json.WriteString("status", Status);
            json.WriteNumber("attempts", Attempts);
            json.WriteNumber("input_tokens", InputTokens);
            json.WriteNumber("output_tokens", OutputTokens);
            json.WriteNumber("first_token_ms", Math.Round(FirstTokenMs, 3));
            json.WriteNumber("total_ms", Math.Round(TotalMs, 3));
            json.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    private static void WriteList(Utf8JsonWriter json, string name, IReadOnlyList<string> values)
    {
        json.WriteStartArray(name);
        foreach (var value in values)
        {
            json.WriteStringValue(value);
        }

        json.WriteEndArray();
    }
}
