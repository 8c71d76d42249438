using Google.Protobuf;
using LlmRouter.Common.Gossip;
using LlmRouter.V1;

namespace LlmRouter.Tests.Gossip;

/// <summary>The piggyback queue: fewest sends first, newest first, within a byte budget, each update a bounded number of times.</summary>
public sealed class TransmitQueueTests
{
    private static SignedUpdate Update(string name, int bytes = 10) => new()
    {
        Update = ByteString.CopyFrom(new byte[bytes]),
        Signer = name,
        Signature = ByteString.CopyFrom(new byte[64]),
    };

    private static List<string> Signers(IEnumerable<SignedUpdate> updates) => updates.Select(u => u.Signer).ToList();

    [Fact]
    public void Take_FewestSendsFirst_ThenNewestFirst()
    {
        var queue = new TransmitQueue();
        queue.Enqueue("a", Update("a"));
        queue.Enqueue("b", Update("b"));
        queue.Enqueue("c", Update("c"));

        var first = queue.Take(10_000, retransmitLimit: 5);
        queue.Enqueue("d", Update("d"));
        var second = queue.Take(10_000, retransmitLimit: 5);

        Assert.Equal(["c", "b", "a"], Signers(first));
        Assert.Equal(["d", "c", "b", "a"], Signers(second));
    }

    [Fact]
    public void Take_AnUpdateSentAsOftenAsTheLimit_LeavesTheQueue()
    {
        var queue = new TransmitQueue();
        queue.Enqueue("a", Update("a"));

        var sends = Enumerable.Range(0, 5).Select(_ => queue.Take(10_000, retransmitLimit: 3).Count).ToList();

        Assert.Equal([1, 1, 1, 0, 0], sends);
        Assert.Equal(0, queue.Count);
    }

    [Fact]
    public void Take_SkipsAnUpdateLargerThanTheBudgetLeft_AndTakesSmallerOnesAfterIt()
    {
        var queue = new TransmitQueue();
        queue.Enqueue("small", Update("small", bytes: 10));
        queue.Enqueue("large", Update("large", bytes: 900));
        var small = Update("small").CalculateSize() + 4;

        var taken = queue.Take(small + 100, retransmitLimit: 5);
        var rest = queue.Take(10_000, retransmitLimit: 5);

        Assert.Equal(["small"], Signers(taken));
        Assert.Equal(["large", "small"], Signers(rest));
    }

    [Fact]
    public void Enqueue_NewerUpdateAboutTheSameSubject_ReplacesTheOlderAndStartsItsCountAgain()
    {
        var queue = new TransmitQueue();
        queue.Enqueue("member:a", Update("old"));
        queue.Take(10_000, retransmitLimit: 2);

        queue.Enqueue("member:a", Update("new"));

        Assert.Equal(1, queue.Count);
        Assert.Equal(["new"], Signers(queue.Take(10_000, retransmitLimit: 2)));
        Assert.Equal(["new"], Signers(queue.Take(10_000, retransmitLimit: 2)));
        Assert.Empty(queue.Take(10_000, retransmitLimit: 2));
    }
}
