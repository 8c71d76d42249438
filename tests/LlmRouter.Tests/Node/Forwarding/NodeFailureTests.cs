using LlmRouter.Tests.Infrastructure;
using LlmRouter.V1;
using static LlmRouter.Tests.Node.ChatRequests;

namespace LlmRouter.Tests.Node.Forwarding;

/// <summary>The serving node dies before or after its first token: the client still gets one answer.</summary>
public sealed class NodeFailureTests
{
    // n2's copy of "shared" ranks first; n3's copy takes over.
    private static Task<TestMesh> Mesh(string n2Settings) => TestMesh.StartAsync(3, backends: node => node switch
    {
        "n2" => TestMesh.Backend("sim-n2", "shared", quality: 0.9, simulated: n2Settings),
        "n3" => TestMesh.Backend("sim-n3", "shared", quality: 0.6, simulated: "time_to_first_token: 0ms\ntokens_per_second: 50"),
        _ => TestMesh.DefaultBackend(node),
    });

    private static ChatRequest Quality(string text, bool allowContinuation = false)
    {
        var request = Ask("shared", text, maxTokens: 12);
        request.RoutingProfile = "quality";
        request.AllowContinuation = allowContinuation;
        return request;
    }

    [Fact]
    public async Task ServingNodeKilledBeforeTheFirstToken_AnswerComesFromAnother()
    {
        await using var mesh = await Mesh("time_to_first_token: 3s\ntokens_per_second: 50");
        var (n1, n2) = (mesh.Nodes[0], mesh.Nodes[1]);
        await n1.KnowsModelAsync("shared", copies: 2);

        var answer = ReadAll(n1.Router.Chat(Quality("who answers?")));
        await Eventually.WaitUntil(() => n2.Catalog.Current.Backends[0].Simulation!.ActiveGenerations == 1, "n2 is generating", () => "not yet");
        await n2.KillAsync();
        var frames = await answer;

        var route = Assert.Single(frames, f => f.Route is not null).Route;
        Assert.Equal(("n3", 2u), (route.ServingNode, route.Attempt));
        Assert.Equal(12UL, frames[^1].Completed.Usage.OutputTokens);
    }

    [Fact]
    public async Task ServingNodeKilledAfterTheFirstToken_ContinuationCompletesTheAnswerAtAMarkedSeam()
    {
        await using var mesh = await Mesh("time_to_first_token: 0ms\ntokens_per_second: 10\ndefault_max_tokens: 1000");
        var (n1, n2) = (mesh.Nodes[0], mesh.Nodes[1]);
        await n1.KnowsModelAsync("shared", copies: 2);

        using var call = n1.Router.Chat(Quality("keep going", allowContinuation: true));
        var frames = new List<ChatResponse>();
        while (frames.Count(f => f.Delta is not null) < 2 && await call.ResponseStream.MoveNext(CancellationToken.None))
        {
            frames.Add(call.ResponseStream.Current);
        }

        var killing = n2.KillAsync();
        frames.AddRange(await ReadAll(call));
        await killing;

        Assert.Equal("n2", frames[0].Route.ServingNode);
        var seam = Assert.Single(frames, f => f.Seam is not null).Seam;
        Assert.Equal("n3", seam.Route.ServingNode);
        Assert.True(frames[^1].Completed.Continued);
        Assert.Contains(frames.SkipWhile(f => f.Seam is null), f => f.Delta is not null);
    }
}

/// <summary>A model whose only server is gone (dead) is unavailable, not unknown.</summary>
public sealed class UnreachableModelTests
{
    [Fact]
    public async Task Chat_OnlyServerOfTheModelDead_UnavailableNamingIt()
    {
        await using var mesh = await TestMesh.StartAsync(2);
        var (n1, n2) = (mesh.Nodes[0], mesh.Nodes[1]);
        await n1.KnowsModelAsync("model-n2");

        await n2.KillAsync();
        // While n2 is only suspect it stays in reach (MemberReach); once dead (or left, as a stopped host says) it is out of reach.
        async Task<MemberStatus?> Status() => (await n1.Admin.ListMembersAsync(new ListMembersRequest())).Members.FirstOrDefault(m => m.Id == "n2")?.Status;
        await Eventually.WaitUntil(async () => await Status() is MemberStatus.Dead or MemberStatus.Left,
            "n2 dead or left at n1", async () => $"n2 {await Status()}", TimeSpan.FromSeconds(60));
        var refused = await Assert.ThrowsAsync<Grpc.Core.RpcException>(() => ReadAll(n1.Router.Chat(Ask("model-n2", "anyone?"))));

        Assert.Equal(Grpc.Core.StatusCode.Unavailable, refused.StatusCode);
        Assert.Matches(@"^model 'model-n2' is served only by members out of reach: n2 \((dead|left)\)", refused.Status.Detail);
    }
}
