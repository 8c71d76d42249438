using Google.Protobuf;
using LlmRouter.Common.Audit;
using LlmRouter.V1;

namespace LlmRouter.Tests.Audit;

/// <summary>
/// A peer's checkpoints checked as they arrive: two roots for one tree size, or a smaller tree signed later than a
/// larger one, is reported (and kept, as evidence), also across the keeping host's restart; a checkpoint announced
/// again, a larger tree, or an old one relayed late is not a conflict.
/// </summary>
public sealed class PeerCheckpointTests : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("llmrouter-peers-");
    private readonly List<(string Member, string Kind, string Detail)> _conflicts = [];

    public void Dispose() => _directory.Delete(recursive: true);

    [Fact]
    public void SameHistoryAnnouncedAgainGrowingOrLate_IsNoConflict()
    {
        var kept = Keeper();
        kept.Keep(Record(5, root: 1, second: 10));
        kept.Keep(Record(5, root: 1, second: 10));
        kept.Keep(Record(9, root: 2, second: 20));
        kept.Keep(Record(7, root: 3, second: 15));

        Assert.Empty(_conflicts);
        Assert.Equal(4, RouteLogFiles.ReadCheckpoints(Path.Combine(_directory.FullName, "a1.jsonl")).Count);
    }

    [Fact]
    public void TwoRootsForOneSize_IsEquivocation()
    {
        var kept = Keeper();
        kept.Keep(Record(5, root: 1, second: 10));
        kept.Keep(Record(5, root: 2, second: 30));

        var (member, kind, detail) = Assert.Single(_conflicts);
        Assert.Equal(("a1", "equivocation"), (member, kind));
        Assert.StartsWith("two roots for the tree of 5 entries", detail, StringComparison.Ordinal);
    }

    [Fact]
    public void ASmallerTreeSignedLater_IsARollback_EvenAfterTheKeeperRestarted()
    {
        Keeper().Keep(Record(9, root: 1, second: 10));

        // A new keeper reads what the first one kept.
        Keeper().Keep(Record(4, root: 2, second: 40));

        var (member, kind, detail) = Assert.Single(_conflicts);
        Assert.Equal(("a1", "rollback"), (member, kind));
        Assert.StartsWith("its tree went back from 9 entries", detail, StringComparison.Ordinal);
        Assert.Equal(2, RouteLogFiles.ReadCheckpoints(Path.Combine(_directory.FullName, "a1.jsonl")).Count);
    }

    private PeerCheckpoints Keeper() => new(_directory.FullName, (member, kind, detail) => _conflicts.Add((member, kind, detail)));

    // Signatures are checked on receipt, before a record gets here; these carry none.
    private static RouteLogCheckpoint Record(ulong size, byte root, int second) => new()
    {
        Member = "a1",
        Size = size,
        Root = ByteString.CopyFrom(Enumerable.Repeat(root, 32).ToArray()),
        TimeMs = DateTimeOffset.Parse("2026-11-30T12:00:00Z", System.Globalization.CultureInfo.InvariantCulture).AddSeconds(second).ToUnixTimeMilliseconds(),
        Certificate = ByteString.CopyFrom([1]),
        Signature = ByteString.CopyFrom([2]),
    };
}
