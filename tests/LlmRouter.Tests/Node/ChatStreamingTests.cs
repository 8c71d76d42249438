using Grpc.Core;
using LlmRouter.Common.Protocol;
using LlmRouter.Tests.Infrastructure;
using LlmRouter.V1;
using static LlmRouter.Tests.Node.ChatRequests;

namespace LlmRouter.Tests.Node;

/// <summary>A node serving chats from its simulated backend over real HTTP/2 + TLS.</summary>
public sealed class ChatStreamingTests
{
    [Fact]
    public async Task Chat_SimulatedModel_StreamsRouteThenDeltasThenCompletion()
    {
        await using var node = await TestNode.StartAsync(MeshYaml.SingleNode(MeshYaml.Simulated()));

        using var call = node.Router.Chat(Ask("sim-model", "hello mesh"));
        var frames = await ReadAll(call);

        Assert.Equal(ChatResponse.FrameOneofCase.Route, frames[0].FrameCase);
        Assert.Equal("n1", frames[0].Route.ServingNode);
        Assert.Equal("sim", frames[0].Route.Backend);
        Assert.Equal("sim-model", frames[0].Route.Model);
        Assert.Equal("simulated", frames[0].Route.BackendKind);
        Assert.Equal(["n1"], frames[0].Route.Path.Select(h => h.Node));
        Assert.Equal(32, frames[0].Route.RequestId.Length);

        var completed = frames[^1].Completed;
        Assert.NotNull(completed);
        var deltas = frames.Skip(1).Take(frames.Count - 2).ToList();
        Assert.All(deltas, f => Assert.Equal(ChatResponse.FrameOneofCase.Delta, f.FrameCase));
        Assert.Equal((int)completed.Usage.OutputTokens, deltas.Count);
        Assert.Equal(2UL, completed.Usage.InputTokens);
        Assert.Equal(FinishReason.Stop, completed.FinishReason);
        var hop = Assert.Single(completed.Hops);
        Assert.Equal("n1", hop.Node);
        Assert.Equal("sim", hop.Backend);
        Assert.True(hop.Total.ToTimeSpan() >= hop.TimeToFirstToken.ToTimeSpan());
    }

    [Fact]
    public async Task Chat_SameConversationTwice_SameAnswer()
    {
        await using var node = await TestNode.StartAsync(MeshYaml.SingleNode(MeshYaml.Simulated()));

        var first = string.Concat((await ReadAll(node.Router.Chat(Ask("sim-model", "tell me")))).Where(f => f.Delta is not null).Select(f => f.Delta.Text));
        var second = string.Concat((await ReadAll(node.Router.Chat(Ask("sim-model-alias", "tell me")))).Where(f => f.Delta is not null).Select(f => f.Delta.Text));
        var other = string.Concat((await ReadAll(node.Router.Chat(Ask("sim-model", "something else")))).Where(f => f.Delta is not null).Select(f => f.Delta.Text));

        Assert.False(string.IsNullOrWhiteSpace(first));
        Assert.Equal(first, second);
        Assert.NotEqual(first, other);
    }

    [Fact]
    public async Task Chat_MaxTokens_StopsWithLengthFinishReason()
    {
        await using var node = await TestNode.StartAsync(MeshYaml.SingleNode(MeshYaml.Simulated()));

        var frames = await ReadAll(node.Router.Chat(Ask("auto", "hello", maxTokens: 3)));

        Assert.Equal(3, frames.Count(f => f.Delta is not null));
        Assert.Equal(FinishReason.Length, frames[^1].Completed.FinishReason);
        Assert.Equal(3UL, frames[^1].Completed.Usage.OutputTokens);
    }

    [Fact]
    public async Task Chat_BackendStillGenerating_EachTokenArrivesAsItIsGenerated()
    {
        // The backend sends two tokens and then holds the rest: a relay that buffered would deliver nothing until the
        // answer ended (here, never before the call's deadline). Timing plays no part: the client must hold both
        // tokens while the backend has not generated the third.
        var backend = MeshYaml.Simulated(settings: "time_to_first_token: 0ms\ntokens_per_second: 0\nstall_after_tokens: 2", limits: "stall_timeout: 5m");
        await using var node = await TestNode.StartAsync(MeshYaml.SingleNode(backend));

        using var cancel = new CancellationTokenSource();
        using var call = node.Router.Chat(Ask("sim-model", "pace", maxTokens: 6), deadline: TimeProvider.System.GetUtcNow().UtcDateTime.AddSeconds(60), cancellationToken: cancel.Token);
        var deltas = 0;
        while (deltas < 2 && await call.ResponseStream.MoveNext(CancellationToken.None))
        {
            deltas += call.ResponseStream.Current.Delta is not null ? 1 : 0;
        }

        Assert.Equal(2, deltas);
        cancel.Cancel();
    }

    [Fact]
    public async Task Embed_SimulatedModel_ReturnsOneUnitVectorPerInput()
    {
        await using var node = await TestNode.StartAsync(MeshYaml.SingleNode(MeshYaml.Simulated()));

        var request = new EmbedRequest { Model = "sim-model-embed" };
        request.Inputs.Add(["alpha", "beta", "alpha"]);
        var response = await node.Router.EmbedAsync(request);

        Assert.Equal(3, response.Embeddings.Count);
        Assert.All(response.Embeddings, e => Assert.Equal(16, e.Values.Count));
        Assert.Equal(response.Embeddings[0].Values, response.Embeddings[2].Values);
        Assert.NotEqual(response.Embeddings[0].Values, response.Embeddings[1].Values);
        Assert.InRange(Math.Sqrt(response.Embeddings[0].Values.Sum(v => (double)v * v)), 0.999, 1.001);
        Assert.Equal("sim", response.Route.Backend);
    }

    [Fact]
    public async Task ListModels_ListsEveryModelWithItsNodeAndKind()
    {
        await using var node = await TestNode.StartAsync(MeshYaml.SingleNode(MeshYaml.Simulated()));

        var all = await node.Router.ListModelsAsync(new ListModelsRequest());
        var embeddings = await node.Router.ListModelsAsync(new ListModelsRequest { Kind = ModelKind.Embedding });

        Assert.Equal(["sim-model", "sim-model-embed"], all.Models.Select(m => m.Id).Order());
        var chat = all.Models.Single(m => m.Id == "sim-model");
        Assert.Equal(("n1", "pool-a", "sim", ModelKind.Chat), (chat.Node, chat.Pool, chat.Backend, chat.Kind));
        Assert.Equal(["sim-model-alias"], chat.Aliases);
        Assert.Equal("sim-model-embed", Assert.Single(embeddings.Models).Id);
    }

    [Fact]
    public async Task Chat_BackendQueueFull_ResourceExhaustedWithPushback()
    {
        var backend = MeshYaml.Simulated(
            settings: "time_to_first_token: 0ms\ntokens_per_second: 10",
            limits: "max_concurrency: 1\nmax_queue: 0");
        await using var node = await TestNode.StartAsync(MeshYaml.SingleNode(backend));

        using var first = node.Router.Chat(Ask("sim-model", "slow one"));
        Assert.True(await first.ResponseStream.MoveNext(CancellationToken.None));

        using var second = node.Router.Chat(Ask("sim-model", "no room"));
        var refused = await Assert.ThrowsAsync<RpcException>(() => ReadAll(second));

        Assert.Equal(StatusCode.ResourceExhausted, refused.StatusCode);
        Assert.Contains("backend 'sim' is at capacity", refused.Status.Detail);
        var pushback = refused.Trailers.GetValue(RouterMetadata.RetryPushback);
        Assert.True(int.TryParse(pushback, out var milliseconds) && milliseconds > 0, $"pushback trailer: '{pushback}'");
    }

    [Fact]
    public async Task Chat_QueuedRequest_RunsWhenSlotFrees()
    {
        var backend = MeshYaml.Simulated(limits: "max_concurrency: 1\nmax_queue: 4");
        await using var node = await TestNode.StartAsync(MeshYaml.SingleNode(backend));

        var answers = await Task.WhenAll(Enumerable.Range(0, 4).Select(i => ReadAll(node.Router.Chat(Ask("sim-model", $"q{i}")))));

        Assert.All(answers, frames => Assert.NotNull(frames[^1].Completed));
        Assert.Equal(0, node.Catalog.Current.Backends[0].Admission.Running);
    }
}
