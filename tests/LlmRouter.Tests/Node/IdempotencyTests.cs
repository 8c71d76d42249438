using Grpc.Core;
using LlmRouter.Tests.Infrastructure;
using LlmRouter.V1;
using static LlmRouter.Tests.Node.ChatRequests;

namespace LlmRouter.Tests.Node;

/// <summary>An idempotency key makes a client's retry return the same answer instead of generating twice.</summary>
public sealed class IdempotencyTests
{
    private static readonly string Paced = MeshYaml.Simulated(settings: "time_to_first_token: 0ms\ntokens_per_second: 40");

    private static ChatRequest Keyed(string key, string text = "the same question")
    {
        var request = Ask("sim-model", text, maxTokens: 8);
        request.IdempotencyKey = key;
        return request;
    }

    [Fact]
    public async Task Retry_AfterTheAnswerFinished_ReplaysTheSameFramesWithoutGenerating()
    {
        await using var node = await TestNode.StartAsync(MeshYaml.SingleNode(Paced));

        var first = await ReadAll(node.Router.Chat(Keyed("key-1")));
        var retry = await ReadAll(node.Router.Chat(Keyed("key-1")));

        Assert.Equal(first, retry);
        Assert.Equal(1, node.Catalog.Current.Backends[0].Simulation!.StartedGenerations);
    }

    [Fact]
    public async Task Retry_WhileTheFirstIsStillStreaming_FollowsItLiveAndGeneratesOnce()
    {
        await using var node = await TestNode.StartAsync(MeshYaml.SingleNode(Paced));

        using var original = node.Router.Chat(Keyed("key-2"));
        Assert.True(await original.ResponseStream.MoveNext(CancellationToken.None));
        var retry = ReadAll(node.Router.Chat(Keyed("key-2")));
        var rest = await ReadAll(original);

        Assert.Equal(Text(rest), Text((await retry).Skip(1)));
        Assert.NotNull((await retry)[^1].Completed);
        Assert.Equal(1, node.Catalog.Current.Backends[0].Simulation!.StartedGenerations);
    }

    [Fact]
    public async Task SameKey_ForADifferentRequest_InvalidArgument()
    {
        await using var node = await TestNode.StartAsync(MeshYaml.SingleNode(Paced));
        await ReadAll(node.Router.Chat(Keyed("key-3")));

        var refused = await Assert.ThrowsAsync<RpcException>(() => ReadAll(node.Router.Chat(Keyed("key-3", "another question"))));

        Assert.Equal(StatusCode.InvalidArgument, refused.StatusCode);
        Assert.StartsWith("idempotency_key:", refused.Status.Detail);
    }

    [Fact]
    public async Task Retry_AfterAFailure_GeneratesAgain()
    {
        var failing = MeshYaml.Simulated(settings: "time_to_first_token: 0ms\ntokens_per_second: 0\nfailure_rate: 1");
        await using var node = await TestNode.StartAsync(MeshYaml.SingleNode(failing));

        await Assert.ThrowsAsync<RpcException>(() => ReadAll(node.Router.Chat(Keyed("key-4"))));
        await Assert.ThrowsAsync<RpcException>(() => ReadAll(node.Router.Chat(Keyed("key-4"))));

        Assert.Equal(2, node.Catalog.Current.Backends[0].Simulation!.StartedGenerations);
    }
}
