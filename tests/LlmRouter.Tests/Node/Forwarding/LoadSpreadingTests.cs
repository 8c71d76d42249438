using Grpc.Core;
using LlmRouter.Common.Protocol;
using LlmRouter.Tests.Infrastructure;
using LlmRouter.V1;
using static LlmRouter.Tests.Node.ChatRequests;

namespace LlmRouter.Tests.Node.Forwarding;

/// <summary>Concurrent requests spread over the members with room; refused only when none has room.</summary>
public sealed class LoadSpreadingTests
{
    [Fact]
    public async Task ConcurrentRequests_SpreadOverMembersWithRoom_RefusedOnlyWhenNoneHasRoom()
    {
        // Two members serve "shared" with two slots each and no queue; each answer takes about a second.
        await using var mesh = await TestMesh.StartAsync(3, backends: node => node == "n1"
            ? TestMesh.DefaultBackend(node)
            : TestMesh.Backend($"sim-{node}", "shared", simulated: "time_to_first_token: 0ms\ntokens_per_second: 10", maxConcurrency: 2, maxQueue: 0));
        var n1 = mesh.Nodes[0];
        await n1.KnowsModelAsync("shared", copies: 2);

        var calls = Enumerable.Range(0, 4).Select(i => n1.Router.Chat(Ask("shared", $"question {i}", maxTokens: 10))).ToList();
        var firstFrames = new List<ChatResponse>();
        foreach (var call in calls)
        {
            Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
            firstFrames.Add(call.ResponseStream.Current);
        }

        // Four streams open, two per member: a fifth finds no room anywhere.
        var refused = await Assert.ThrowsAsync<RpcException>(() => ReadAll(n1.Router.Chat(Ask("shared", "one too many", maxTokens: 10))));
        var served = firstFrames.GroupBy(f => f.Route.ServingNode).ToDictionary(g => g.Key, g => g.Count());
        var answers = await Task.WhenAll(calls.Select(ReadAll));

        Assert.Equal(new Dictionary<string, int> { ["n2"] = 2, ["n3"] = 2 }, served);
        Assert.Equal(StatusCode.ResourceExhausted, refused.StatusCode);
        Assert.StartsWith("no candidate in reach has room", refused.Status.Detail);
        Assert.NotNull(refused.Trailers.GetValue(RouterMetadata.RetryPushback));
        Assert.All(answers, frames => Assert.NotNull(frames[^1].Completed));
    }
}
