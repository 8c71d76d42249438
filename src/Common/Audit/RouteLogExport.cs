using System.Globalization;
using System.Text;
using System.Text.Json;

namespace LlmRouter.Common.Audit;

/// <summary>
/// Reads a route log's entries as written, and turns them into what a SIEM takes: JSON lines (each entry as it is
/// stored, with its leaf hash added), or syslog messages (RFC 5424). Also finds one request's entries with the
/// proof that each is in the tree its process signed (an RFC 9162 inclusion proof against a checkpoint).
/// </summary>
public static class RouteLogExport
{
    /// <summary>One stored entry: its position, its line, and its leaf hash.</summary>
    public sealed record StoredEntry(long Index, byte[] Line, byte[] Leaf)
    {
        public JsonElement Json
        {
            get
            {
                using var document = JsonDocument.Parse(Line);
                return document.RootElement.Clone();
            }
        }
    }

    /// <summary>Every whole entry of the log in <paramref name="directory"/>, in order (header lines and a torn tail left out).</summary>
    public static List<StoredEntry> Entries(string directory)
    {
        var entries = new List<StoredEntry>();
        foreach (var (_, path) in RouteLogFiles.Segments(directory))
        {
            var (lines, _) = RouteLogFiles.ReadLines(path);
            var header = lines.Count > 0 ? RouteLogFiles.SegmentHeader.Parse(Encoding.UTF8.GetString(lines[0].Line)) : null;
            if (header is null)
            {
                continue;
            }

            var index = header.FirstIndex;
            foreach (var (_, line) in lines.Skip(1))
            {
                entries.Add(new StoredEntry(index++, line, MerkleTree.LeafHash(line)));
            }
        }

        return entries;
    }

    /// <summary>An entry as a JSON line for a SIEM: as stored, with its leaf hash.</summary>
    public static string JsonLine(StoredEntry entry)
    {
        var text = Encoding.UTF8.GetString(entry.Line);
        return text[..^1] + ",\"leaf_hash\":\"" + Convert.ToHexStringLower(entry.Leaf) + "\"}";
    }

    // RFC 5612's enterprise number for documentation: an SD-ID of our own ("route@32473").
    private const string StructuredDataId = "route@32473";

    /// <summary>
    /// An entry as an RFC 5424 syslog message: facility 13 (log audit), severity informational (served) or warning
    /// (failed), the entry's time, the process as the host name, app llm-router, message id "route", the entry's
    /// fields as structured data, and a one-line summary as the message.
    /// </summary>
    public static string Syslog(StoredEntry entry)
    {
        var json = entry.Json;
        string Field(string name) => json.TryGetProperty(name, out var value) ? value.ValueKind == JsonValueKind.String ? value.GetString() ?? "" : value.GetRawText() : "";
        var failed = Field("outcome") == "failed";
        var priority = (13 * 8) + (failed ? 4 : 6);
        var data = new StringBuilder("[").Append(StructuredDataId);
        foreach (var name in new[] { "index", "request_id", "hop", "tenant", "model", "serving_node", "backend", "outcome", "status", "attempts", "input_tokens", "output_tokens", "total_ms" })
        {
            data.Append(' ').Append(name).Append("=\"").Append(Escaped(Field(name))).Append('"');
        }

        data.Append(" leaf_hash=\"").Append(Convert.ToHexStringLower(entry.Leaf)).Append("\"]");
        var message = $"{Field("operation")} {Field("request_id")} for {Field("tenant")} ({Field("model")}) at {Field("node")}: {Field("outcome")} {Field("status")}" +
            (Field("serving_node").Length > 0 ? $", served by {Field("serving_node")}/{Field("backend")}" : "");
        var time = DateTimeOffset.Parse(Field("time"), CultureInfo.InvariantCulture).UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture);
        return $"<{priority}>1 {time} {Printable(Field("node"))} llm-router - route {data} {message}";
    }

    // PARAM-VALUE escapes '"', '\' and ']' (RFC 5424, 6.3.3).
    private static string Escaped(string value) => value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("]", "\\]", StringComparison.Ordinal);

    // HOSTNAME is printable US-ASCII without spaces, at most 255 characters (RFC 5424, 6.2.4).
    private static string Printable(string value)
    {
        var printable = new string(value.Where(c => c is > ' ' and < (char)127).Take(255).ToArray());
        return printable.Length == 0 ? "-" : printable;
    }

    /// <summary>One request's entry with what proves it: the checkpoint that covers it (null when none does yet) and the inclusion proof against it.</summary>
    public sealed record ProvenEntry(StoredEntry Entry, Checkpoint? Checkpoint, IReadOnlyList<byte[]> Proof)
    {
        /// <summary>Whether the proof puts the entry's leaf (hashed from its line here) in the checkpoint's tree.</summary>
        public bool Included => Checkpoint is not null
            && MerkleTree.VerifyInclusion(MerkleTree.LeafHash(Entry.Line), Entry.Index, Checkpoint.Size, Proof, Checkpoint.Root);
    }

    /// <summary>
    /// The request's entries in this log, each with the latest of the <paramref name="checkpoints"/> that covers it
    /// (none when no checkpoint does yet, or when the log's oldest segments were archived and the tree from entry 0
    /// cannot be rebuilt here) and the inclusion proof against it. The checkpoints are not checked here: whoever
    /// reads the proof checks the signature (<see cref="Checkpoint.Problem"/>) and the proof (<see cref="ProvenEntry.Included"/>).
    /// </summary>
    public static List<ProvenEntry> Request(string directory, string requestId, IReadOnlyList<Checkpoint> checkpoints)
    {
        var entries = Entries(directory);
        var found = new List<ProvenEntry>();
        var leaves = entries.Select(e => e.Leaf).ToList();
        var first = entries.Count > 0 ? entries[0].Index : 0;
        foreach (var entry in entries.Where(e => Field(e, "request_id") == requestId))
        {
            var checkpoint = first > 0 ? null : checkpoints.Where(c => c.Size > entry.Index && c.Size <= leaves.Count).MaxBy(c => c.Size);
            found.Add(new ProvenEntry(entry, checkpoint, checkpoint is null ? [] : MerkleTree.InclusionProof(leaves, entry.Index, checkpoint.Size)));
        }

        return found;
    }

    private static string Field(StoredEntry entry, string name)
    {
        try
        {
            return entry.Json.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() ?? "" : "";
        }
        catch (JsonException)
        {
            return "";
        }
    }
}
