using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;

namespace LlmRouter.Common.Audit;

/// <summary>
/// Checks a process's route log without trusting the process (issue 14): every entry is re-hashed into the Merkle
/// tree, and the tree's root at each checkpoint's size must be the root that checkpoint signed. This covers the
/// process's own checkpoints and the copies its peers kept. Each entry must carry its position and the hash of
/// the entry before it, so an edit, a removal or an insertion is named at the entry where it happened. A checkpoint
/// larger than the log shows a cut tail. Two signed checkpoints of one size with different roots show a rewritten
/// history. A line a crash left torn at the very end is reported, not held against the log, when no checkpoint
/// covers it.
/// </summary>
public static class RouteLogVerifier
{
    /// <summary>What the verification found.</summary>
    /// <param name="Problems">What does not fit, the first entry that does not fit first; empty when the log verifies.</param>
    /// <param name="Notes">What is worth knowing and is no fault (a torn tail set aside, an archived start).</param>
    public sealed record Report(string Node, long Entries, int Segments, int CheckpointsMatched, List<string> Problems, List<string> Notes)
    {
        public bool Verified => Problems.Count == 0;
    }

    /// <param name="directory">The process's log directory (DIRECTORY/NODE).</param>
    /// <param name="peers">Checkpoints of this process that its peers kept, with where each came from.</param>
    /// <param name="archived">Whether the oldest segments were archived on purpose: the log is then checked from its first segment here (whose start a checkpoint should vouch for); otherwise a log that does not start at entry 0 is a fault.</param>
    public static Report Verify(string directory, string node, X509Certificate2 authority, string mesh, IEnumerable<(Checkpoint Checkpoint, string Source)> peers, bool archived = false)
    {
        var problems = new List<string>();
        var notes = new List<string>();
        var trusted = TrustedCheckpoints(directory, node, authority, mesh, peers, problems);
        var checkpoints = trusted.ToLookup(c => c.Checkpoint.Size);
        var misfitNamed = false;
        var segments = RouteLogFiles.Segments(directory);
        if (segments.Count == 0)
        {
            problems.Add($"no route log in {directory}");
            return new Report(node, 0, 0, 0, problems, notes);
        }

        MerkleFrontier? frontier = null;
        byte[] previous = [];
        long start = 0;
        var matched = 0;
        for (var s = 0; s < segments.Count; s++)
        {
            var (number, path) = segments[s];
            var name = Path.GetFileName(path);
            var (lines, torn) = RouteLogFiles.ReadLines(path);
            var header = lines.Count > 0 ? RouteLogFiles.SegmentHeader.Parse(Encoding.UTF8.GetString(lines[0].Line)) : null;
            if (header is null && s == segments.Count - 1 && lines.Count <= 1 && frontier is not null)
            {
                // A crash while a rotation wrote the next segment's header: the next start sets it aside.
                notes.Add($"{name}: a segment begun and not written whole (a crash during a rotation): no entry in it");
                break;
            }

            if (header is null || header.Node != node)
            {
                problems.Add($"{name}: its first line is not the segment header of '{node}'s log");
                break;
            }

            if (frontier is null)
            {
                frontier = header.Frontier.Copy();
                previous = header.Previous;
                start = header.FirstIndex;
                if (start > 0 && !archived)
                {
                    problems.Add($"the log begins at entry {start} ({name}): the segments before it are not here (pass --archived if they were archived on purpose)");
                }

                if (start > 0)
                {
                    var vouched = checkpoints[start].ToList();
                    notes.Add($"entries before {start} are archived: the log is checked from {name}, " + (vouched.Count == 0
                        ? "whose start no checkpoint here vouches for"
                        : vouched.All(c => c.Checkpoint.Root.AsSpan().SequenceEqual(frontier.Root()))
                            ? $"whose start the checkpoint signed at {vouched[0].Checkpoint.Time:O} vouches for"
                            : "whose start does NOT match the checkpoint signed at that size"));
                    if (vouched.Exists(c => !c.Checkpoint.Root.AsSpan().SequenceEqual(frontier.Root())))
                    {
                        problems.Add($"{name}: its header's tree of {start} entries is not the one the checkpoint of that size signed");
                    }
                }
            }
            else if (header.FirstIndex != frontier.Size || !header.Previous.AsSpan().SequenceEqual(previous) || !header.Frontier.Root().AsSpan().SequenceEqual(frontier.Root()))
            {
                problems.Add($"{name} does not go on where {Path.GetFileName(segments[s - 1].Path)} ends (entry {frontier.Size}): entries were removed, added or changed at the boundary");
                break;
            }

            var previousOffset = lines[0].Offset;
            foreach (var (offset, line) in lines.Skip(1))
            {
                var index = frontier.Size;
                if (!misfitNamed && Misfit(line, index, previous) is { } misfit)
                {
                    misfitNamed = true;
                    problems.Insert(0, $"entry {misfit.Index} ({name}, byte {(misfit.Index == index ? offset : previousOffset)}): {misfit.Why}");
                }

                previousOffset = offset;

                var leaf = MerkleTree.LeafHash(line);
                frontier.Append(leaf);
                previous = leaf;
                foreach (var (checkpoint, source) in checkpoints[frontier.Size])
                {
                    if (checkpoint.Root.AsSpan().SequenceEqual(frontier.Root()))
                    {
                        matched++;
                    }
                    else
                    {
                        problems.Add($"the first {frontier.Size} entries are not the ones the checkpoint signed at {checkpoint.Time:O} ({source}) covers: an entry up to {index} was changed");
                    }
                }
            }

            if (torn.Length > 0)
            {
                var cutAt = new FileInfo(path).Length - torn.Length;
                if (s == segments.Count - 1)
                {
                    notes.Add($"{name}: a write cut short at byte {cutAt} ({torn.Length} bytes, a crash), after entry {frontier.Size - 1}: not an entry");
                }
                else
                {
                    problems.Add($"{name}: {torn.Length} bytes after its last whole entry (byte {cutAt}), yet a later segment follows");
                }
            }
        }

        var size = frontier?.Size ?? 0;
        foreach (var (checkpoint, source) in trusted.Where(c => c.Checkpoint.Size > size).OrderBy(c => c.Checkpoint.Size).Take(1))
        {
            problems.Add($"the log ends after entry {size - 1}, yet the checkpoint signed at {checkpoint.Time:O} ({source}) covers {checkpoint.Size} entries: entries {size} to {checkpoint.Size - 1} were cut off");
        }

        var older = trusted.Count(c => c.Checkpoint.Size < start);
        if (older > 0)
        {
            notes.Add($"{older} checkpoint(s) of fewer than {start} entries cover entries not here and were not checked");
        }

        return new Report(node, size - start, segments.Count, matched, problems, notes);
    }

    /// <summary>Why an entry line does not fit at its place; null when it does.</summary>
    private static (long Index, string Why)? Misfit(byte[] line, long index, byte[] previous)
    {
        try
        {
            using var document = JsonDocument.Parse(line);
            var json = document.RootElement;
            var numbered = json.GetProperty("index").GetInt64();
            if (numbered > index)
            {
                return (index, numbered == index + 1
                    ? $"missing: the entry in its place is numbered {numbered} (entry {index} was removed)"
                    : $"missing: the entry in its place is numbered {numbered} (entries {index} to {numbered - 1} were removed)");
            }

            if (numbered < index)
            {
                return (index, $"the entry in its place is numbered {numbered}: an entry was added or repeated");
            }

            return json.GetProperty("prev").GetString() == Convert.ToHexStringLower(previous)
                ? null
                : (index - 1, $"changed: entry {index} links to another entry before it");
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            return (index, "not an entry of the route log (its JSON does not read)");
        }
    }

    /// <summary>The process's own checkpoints and its peers' copies whose signatures hold; the others are problems.</summary>
    private static List<(Checkpoint Checkpoint, string Source)> TrustedCheckpoints(
        string directory, string node, X509Certificate2 authority, string mesh, IEnumerable<(Checkpoint Checkpoint, string Source)> peers, List<string> problems)
    {
        var own = RouteLogFiles.ReadCheckpoints(Path.Combine(directory, RouteLogFiles.CheckpointsFile)).Select(c => (Checkpoint: c, Source: $"{node}'s own"));
        var trusted = new List<(Checkpoint Checkpoint, string Source)>();
        foreach (var (checkpoint, source) in own.Concat(peers))
        {
            if (checkpoint.Node != node)
            {
                continue;
            }

            if (checkpoint.Problem(authority, mesh) is { } problem)
            {
                problems.Add($"the checkpoint of {checkpoint.Size} entries signed at {checkpoint.Time:O} ({source}) cannot be trusted: {problem}");
                continue;
            }

            trusted.Add((checkpoint, source));
        }

        foreach (var size in trusted.GroupBy(c => c.Checkpoint.Size).Where(g => g.Select(c => Convert.ToHexString(c.Checkpoint.Root)).Distinct().Count() > 1))
        {
            var (first, second) = (size.First(), size.First(c => !c.Checkpoint.Root.AsSpan().SequenceEqual(size.First().Checkpoint.Root)));
            problems.Add($"'{node}' signed two different trees of {size.Key} entries, at {first.Checkpoint.Time:O} ({first.Source}) and {second.Checkpoint.Time:O} ({second.Source}): its history was rewritten");
        }

        return trusted;
    }
}
