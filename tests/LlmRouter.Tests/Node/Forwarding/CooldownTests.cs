using LlmRouter.Tests.Infrastructure;
using LlmRouter.V1;
using static LlmRouter.Tests.Node.ChatRequests;

namespace LlmRouter.Tests.Node.Forwarding;

/// <summary>A backend that keeps failing cools down: skipped by routing here, and announced to the pool.</summary>
public sealed class CooldownTests
{
    [Fact]
    public async Task FailingBackend_CoolsDownIsSkippedAndItsCooldownIsGossiped()
    {
        await using var mesh = await TestMesh.StartAsync(3, backends: node => node switch
        {
            "n2" => TestMesh.Backend("sim-n2", "shared", quality: 0.9, simulated: "time_to_first_token: 0ms\ntokens_per_second: 0\nfailure_rate: 1"),
            "n3" => TestMesh.Backend("sim-n3", "shared", quality: 0.6),
            _ => TestMesh.DefaultBackend(node),
        });
        var (n1, n2, n3) = (mesh.Nodes[0], mesh.Nodes[1], mesh.Nodes[2]);
        await n1.KnowsModelAsync("shared", copies: 2);

        // The quality profile keeps n2 (quality 0.9) ranked first whatever n3's measured speed, so each request tries
        // n2, fails, and n3 serves it as attempt 2, until three failures open n1's breaker of n2. (On a loaded
        // machine n2 may be suspected for a moment and skipped; such a request does not count, so the test sends
        // until it has seen the three failures, bounded.)
        var failedOnN2 = 0;
        for (var i = 0; failedOnN2 < 3; i++)
        {
            Assert.True(i < 30, $"n2 was tried and failed only {failedOnN2} times in 30 requests");
            var frames = await ReadAll(n1.Router.Chat(Quality(i)));
            Assert.Equal("n3", frames[0].Route.ServingNode);
            failedOnN2 += frames[0].Route.Attempt == 2 ? 1 : 0;
        }

        // Three failures open the breaker; after that n2 is not even tried.
        for (var i = 0; i < 3; i++)
        {
            var frames = await ReadAll(n1.Router.Chat(Quality(100 + i)));
            Assert.Equal(("n3", 1u), (frames[0].Route.ServingNode, frames[0].Route.Attempt));
        }

        Assert.Equal(3, n2.Catalog.Current.Backends[0].Simulation!.StartedGenerations);

        // n2's own breaker opened too, and its load record tells the pool: n3 sees the cooldown.
        await Eventually.WaitUntil(
            async () => (await n3.Admin.GetLoadAsync(new GetLoadRequest())).Members.Single(m => m.Member == "n2").Load?.Backends.SingleOrDefault()?.CooldownUntil is not null,
            "n3 learns n2's cooldown through gossip", () => Task.FromResult("no cooldown yet"), TimeSpan.FromSeconds(10));
    }

    private static ChatRequest Quality(int i)
    {
        var request = Ask("shared", $"question {i}", maxTokens: 2);
        request.RoutingProfile = "quality";
        return request;
    }
}
