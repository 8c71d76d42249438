using LlmRouter.Tests.Infrastructure;
using LlmRouter.V1;
using static LlmRouter.Tests.Node.ChatRequests;

namespace LlmRouter.Tests.Node.Forwarding;

/// <summary>The Admin Explain call shows the candidates, why some are excluded, their scores and the winner.</summary>
public sealed class ExplainTests
{
    [Fact]
    public async Task Explain_ShowsEveryCandidateWithTermsExclusionsAndTheWinner()
    {
        await using var mesh = await TestMesh.StartAsync(2, backends: node => node == "n1"
            ? TestMesh.Backend("sim-n1", "small", quality: 0.4, aliases: "[any]")
            : TestMesh.Backend("sim-n2", "large", quality: 0.95, aliases: "[any]", price: 10));
        var n1 = mesh.Nodes[0];
        await n1.KnowsModelAsync("large");
        var request = Ask("large", "explain me");
        request.RoutingProfile = "quality";

        var explained = await n1.Admin.ExplainAsync(new ExplainRequest { Request = request });

        Assert.Equal("quality", explained.Profile);
        Assert.Equal(3.0, explained.Weights.Quality);
        Assert.Equal(("n2", "sim-n2"), (explained.WinnerNode, explained.WinnerBackend));
        var large = explained.Candidates[0];
        Assert.Equal(("n2", "large", "", false), (large.Node, large.Model, large.Excluded, large.Local));
        Assert.Equal(0.95, large.Terms.Quality);
        Assert.Equal(0.5, large.Terms.Locality);
        Assert.True(large.Score > 0);
        var small = explained.Candidates.Single(c => c.Model == "small");
        Assert.Equal("not 'large'", small.Excluded);
        Assert.Equal(1.0, small.Terms.Locality);
    }

    [Fact]
    public async Task Explain_NoCandidate_ReportsTheRefusal()
    {
        await using var mesh = await TestMesh.StartAsync(1);

        var explained = await mesh.Nodes[0].Admin.ExplainAsync(new ExplainRequest { Request = Ask("nowhere", "x") });

        Assert.Equal("", explained.WinnerNode);
        Assert.StartsWith("NotFound: model: no node in reach serves 'nowhere'", explained.Refusal);
    }
}
