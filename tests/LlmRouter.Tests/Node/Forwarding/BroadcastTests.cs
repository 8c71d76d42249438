using LlmRouter.Tests.Infrastructure;
using LlmRouter.V1;
using static LlmRouter.Tests.Node.ChatRequests;

namespace LlmRouter.Tests.Node.Forwarding;

/// <summary>Broadcast mode: the best candidates race, the first token wins, the losers stop generating at once.</summary>
public sealed class BroadcastTests
{
    [Fact]
    public async Task Chat_Broadcast_FirstToYieldATokenWinsAndTheLoserStopsGenerating()
    {
        // n2 ranks higher (quality) but takes 2 s to its first token; n3 answers at once.
        await using var mesh = await TestMesh.StartAsync(3, backends: node => node switch
        {
            "n2" => TestMesh.Backend("sim-n2", "shared", quality: 0.9, simulated: "time_to_first_token: 2s\ntokens_per_second: 50\ndefault_max_tokens: 1000"),
            "n3" => TestMesh.Backend("sim-n3", "shared", quality: 0.6, simulated: "time_to_first_token: 0ms\ntokens_per_second: 50"),
            _ => TestMesh.DefaultBackend(node),
        });
        var n1 = mesh.Nodes[0];
        await n1.KnowsModelAsync("shared", copies: 2);
        var request = Ask("shared", "race", maxTokens: 5);
        request.Mode = RoutingMode.Broadcast;
        request.BroadcastFanout = 2;

        var frames = await ReadAll(n1.Router.Chat(request));

        var route = Assert.Single(frames, f => f.Route is not null).Route;
        Assert.Equal("n3", route.ServingNode);
        Assert.Equal(5, frames.Count(f => f.Delta is not null));
        var loser = mesh.Nodes[1].Catalog.Current.Backends[0].Simulation!;
        await Eventually.WaitUntil(() => loser.ActiveGenerations == 0, "the losing backend stops",
            () => $"active {loser.ActiveGenerations}, produced {loser.TokensProduced}");
        // The loser never yields a token, and whatever it started was cancelled. (On a busy machine the
        // winner can answer before the loser's request even reaches its backend: then it never starts.)
        Assert.Equal((0L, 0L), (loser.TokensProduced, loser.TokensAfterCancellation));
        Assert.Equal(loser.StartedGenerations, loser.CancelledGenerations);
    }
}
