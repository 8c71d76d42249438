using Google.Protobuf;
using LlmRouter.Common.Gossip;
using LlmRouter.V1;

namespace LlmRouter.Tests.Audit;

/// <summary>
/// A gossiped route log checkpoint is checked on receipt like every record: it describes only its signer, and its
/// sizes and time are ones a peer can keep (a lying member's year 3000000 would otherwise break the peer that keeps it).
/// </summary>
public sealed class CheckpointRecordTests
{
    private static RouteLogCheckpoint Valid() => new()
    {
        Member = "n1",
        Size = 12,
        Root = ByteString.CopyFrom(new byte[32]),
        TimeMs = 1_800_000_000_000,
        Signature = ByteString.CopyFrom(new byte[64]),
        Certificate = ByteString.CopyFrom(new byte[600]),
    };

    [Fact]
    public void Checkpoint_Valid_IsTaken() => Assert.Null(RecordRules.Checkpoint(Valid(), "n1"));

    [Theory]
    [InlineData("member", "route log checkpoint signed by 'n1' describes 'n2': a member's records describe only itself")]
    [InlineData("root", "route log checkpoint of 'n1' has a root of 31 bytes (SHA-256: 32)")]
    [InlineData("time", "route log checkpoint of 'n1' has a time of 99999999999999999 ms, outside what a date holds")]
    [InlineData("signature", "route log checkpoint of 'n1' has a signature of 0 bytes")]
    [InlineData("certificate", "route log checkpoint of 'n1' has a certificate of 9000 bytes (at most 8192)")]
    public void Checkpoint_Malformed_IsRefusedWithWhy(string broken, string expected)
    {
        var record = Valid();
        switch (broken)
        {
            case "member": record.Member = "n2"; break;
            case "root": record.Root = ByteString.CopyFrom(new byte[31]); break;
            case "time": record.TimeMs = 99_999_999_999_999_999; break;
            case "signature": record.Signature = ByteString.Empty; break;
            default: record.Certificate = ByteString.CopyFrom(new byte[9000]); break;
        }

        Assert.Equal(expected, RecordRules.Checkpoint(record, "n1"));
    }
}
