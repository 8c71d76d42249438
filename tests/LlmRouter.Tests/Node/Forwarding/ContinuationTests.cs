using Grpc.Core;
using LlmRouter.Common.Protocol;
using LlmRouter.Tests.Infrastructure;
using LlmRouter.V1;
using static LlmRouter.Tests.Node.ChatRequests;

namespace LlmRouter.Tests.Node.Forwarding;

/// <summary>The serving backend fails after its first tokens: continued with a marked seam, or ended as partial.</summary>
public sealed class ContinuationTests
{
    // n2's copy of "shared" ranks first but fails after three tokens; n3's copy is healthy.
    private static Task<TestMesh> Mesh() => TestMesh.StartAsync(3, backends: node => node switch
    {
        "n2" => TestMesh.Backend("sim-n2", "shared", quality: 0.9, simulated: "time_to_first_token: 0ms\ntokens_per_second: 0\nfail_after_tokens: 3"),
        "n3" => TestMesh.Backend("sim-n3", "shared", quality: 0.6),
        _ => TestMesh.DefaultBackend(node),
    });

    [Fact]
    public async Task Chat_ContinuationAllowed_NextCandidateContinuesAndTheSeamIsMarked()
    {
        await using var mesh = await Mesh();
        var n1 = mesh.Nodes[0];
        await n1.KnowsModelAsync("shared", copies: 2);
        var request = Ask("shared", "tell me everything", maxTokens: 8);
        request.AllowContinuation = true;
        await n1.RanksFirstAsync(request, "n2");

        var frames = await ReadAll(n1.Router.Chat(request));

        Assert.Equal("n2", frames[0].Route.ServingNode);
        var seamIndex = frames.FindIndex(f => f.Seam is not null);
        Assert.Equal(4, seamIndex);
        var before = Text(frames.Take(seamIndex));
        var seam = frames[seamIndex].Seam;
        Assert.Equal((ulong)before.Length, seam.Offset);
        Assert.Equal("n3", seam.Route.ServingNode);
        Assert.StartsWith("n2/sim-n2 failed after", seam.Reason);
        Assert.Contains(frames.Skip(seamIndex + 1), f => f.Delta is not null);
        Assert.True(frames[^1].Completed.Continued);
        Assert.Single(frames, f => f.Route is not null);
    }

    [Fact]
    public async Task Chat_ContinuationNotAllowed_EndsWithUnavailableAndThePartialFlag()
    {
        await using var mesh = await Mesh();
        var n1 = mesh.Nodes[0];
        await n1.KnowsModelAsync("shared", copies: 2);
        var request = Ask("shared", "tell me everything", maxTokens: 8);
        await n1.RanksFirstAsync(request, "n2");
        var frames = new List<ChatResponse>();

        var refused = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await foreach (var frame in n1.Router.Chat(request).ResponseStream.ReadAllAsync())
            {
                frames.Add(frame);
            }
        });

        Assert.Equal(StatusCode.Unavailable, refused.StatusCode);
        Assert.Contains("injected failure after 3 tokens", refused.Status.Detail);
        Assert.Equal("true", refused.Trailers.GetValue(RouterMetadata.Partial));
        Assert.Equal(3, frames.Count(f => f.Delta is not null));
        Assert.Equal(0, mesh.Nodes[2].Catalog.Current.Backends[0].Simulation!.StartedGenerations);
    }

    [Fact]
    public async Task Chat_ContinuationFailsBeforeItsFirstToken_TheNextContinuesAndTheOneSeamNamesTheCopyThatStopped()
    {
        // n2 ranks first and fails after three tokens; n3 ranks next and fails before any; n4 continues.
        await using var mesh = await TestMesh.StartAsync(4, backends: node => node switch
        {
            "n2" => TestMesh.Backend("sim-n2", "shared", quality: 0.9, simulated: "time_to_first_token: 0ms\ntokens_per_second: 0\nfail_after_tokens: 3"),
            "n3" => TestMesh.Backend("sim-n3", "shared", quality: 0.8, simulated: "time_to_first_token: 0ms\ntokens_per_second: 0\nfailure_rate: 1"),
            "n4" => TestMesh.Backend("sim-n4", "shared", quality: 0.4),
            _ => TestMesh.DefaultBackend(node),
        });
        var n1 = mesh.Nodes[0];
        await n1.KnowsModelAsync("shared", copies: 3);
        var request = Ask("shared", "tell me everything", maxTokens: 8);
        request.AllowContinuation = true;
        request.RoutingProfile = "quality";
        await n1.RanksFirstAsync(request, "n2");

        using var call = n1.Router.Chat(request);
        var frames = await ReadAll(call);

        var seam = Assert.Single(frames, f => f.Seam is not null).Seam;
        Assert.Equal(("n2", "n4"), (frames[0].Route.ServingNode, seam.Route.ServingNode));
        Assert.StartsWith("n2/sim-n2 failed after", seam.Reason);
        Assert.Contains("injected failure after 3 tokens", seam.Reason, StringComparison.Ordinal);
        Assert.Equal(3u, seam.Route.Attempt);
        Assert.True(frames[^1].Completed.Continued);
        Assert.Equal("3", call.GetTrailers().GetValue(RouterMetadata.AttemptsUsed));
        Assert.Equal(1, mesh.Nodes[2].Catalog.Current.Backends[0].Simulation!.StartedGenerations);
    }
}
