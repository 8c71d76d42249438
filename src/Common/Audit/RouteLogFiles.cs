using System.Globalization;
using System.Text;
using System.Text.Json;

namespace LlmRouter.Common.Audit;

/// <summary>
/// How a route log lies on disk: a directory per process holding its entries in numbered segments
/// (<c>entries-000001.jsonl</c>, one JSON line per entry), its own signed checkpoints (<c>checkpoints.jsonl</c>),
/// and the checkpoints it received from its peers (<c>peers/NODE.jsonl</c>). Each segment begins with a header line
/// that is not an entry: where it continues the log (the index of its first entry, the leaf hash before it and the
/// tree's frontier there), so a segment can be checked on its own once earlier ones are archived, and a checkpoint
/// signed at the rotation vouches for that start.
/// </summary>
public static class RouteLogFiles
{
    public const string CheckpointsFile = "checkpoints.jsonl";
    public const string PeersDirectory = "peers";
    private const string SegmentPrefix = "entries-";
    private const string SegmentSuffix = ".jsonl";

    public static string SegmentPath(string directory, int number) =>
        Path.Combine(directory, SegmentPrefix + number.ToString("D6", CultureInfo.InvariantCulture) + SegmentSuffix);

    /// <summary>The segments in the directory, by number.</summary>
    public static List<(int Number, string Path)> Segments(string directory) =>
        !Directory.Exists(directory) ? [] : Directory.EnumerateFiles(directory, SegmentPrefix + "*" + SegmentSuffix)
            .Select(path => (Number: int.TryParse(Path.GetFileName(path)[SegmentPrefix.Length..^SegmentSuffix.Length], NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : -1, Path: path))
            .Where(s => s.Number > 0).OrderBy(s => s.Number).ToList();

    /// <summary>A segment's header: where it continues the log.</summary>
    public sealed record SegmentHeader(int Segment, string Node, long FirstIndex, byte[] Previous, MerkleFrontier Frontier)
    {
        public byte[] Serialize()
        {
            var buffer = new System.Buffers.ArrayBufferWriter<byte>(512);
            using (var json = new Utf8JsonWriter(buffer))
            {
                json.WriteStartObject();
                json.WriteNumber("segment", Segment);
                json.WriteString("node", Node);
                json.WriteNumber("first_index", FirstIndex);
                json.WriteString("prev", Convert.ToHexStringLower(Previous));
                json.WriteStartArray("frontier");
                foreach (var subtree in Frontier.Subtrees)
                {
                    json.WriteStringValue(Convert.ToHexStringLower(subtree));
                }

                json.WriteEndArray();
                json.WriteEndObject();
            }

            return buffer.WrittenSpan.ToArray();
        }

        public static SegmentHeader? Parse(string line)
        {
            try
            {
                using var document = JsonDocument.Parse(line);
                var json = document.RootElement;
                var first = json.GetProperty("first_index").GetInt64();
                if (first < 0)
                {
                    return null;
                }

                return new SegmentHeader(
                    json.GetProperty("segment").GetInt32(),
                    json.GetProperty("node").GetString()!,
                    first,
                    Convert.FromHexString(json.GetProperty("prev").GetString()!),
                    new MerkleFrontier(first, json.GetProperty("frontier").EnumerateArray().Select(e => Convert.FromHexString(e.GetString()!))));
            }
            catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException or ArgumentException)
            {
                return null;
            }
        }
    }

    /// <summary>
    /// A segment's lines as stored: each complete line (ending in a newline) with its byte offset, and what follows the
    /// last newline (a write a crash cut short), if anything.
    /// </summary>
    public static (List<(long Offset, byte[] Line)> Lines, byte[] Torn) ReadLines(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var lines = new List<(long, byte[])>();
        var start = 0;
        for (var i = 0; i < bytes.Length; i++)
        {
            if (bytes[i] == (byte)'\n')
            {
                lines.Add((start, bytes[start..i]));
                start = i + 1;
            }
        }

        return (lines, bytes[start..]);
    }

    /// <summary>Reads a JSON-lines file of checkpoints; lines that are not checkpoints are skipped (a torn last line).</summary>
    public static List<Checkpoint> ReadCheckpoints(string path) =>
        !File.Exists(path) ? [] : File.ReadLines(path, Encoding.UTF8).Select(Checkpoint.Parse).OfType<Checkpoint>().ToList();
}
