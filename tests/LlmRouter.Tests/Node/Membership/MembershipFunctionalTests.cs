using Grpc.Core;
using LlmRouter.Common.Configuration;
using LlmRouter.Common.Identity;
using LlmRouter.Node.Membership;
using LlmRouter.Tests.Infrastructure;
using LlmRouter.V1;
using Microsoft.Extensions.DependencyInjection;

namespace LlmRouter.Tests.Node.Membership;

/// <summary>Real nodes (Kestrel on loopback, mutual TLS) forming a pool through the Mesh API.</summary>
public sealed class MembershipFunctionalTests
{
    private static async Task<bool> SeesAll(TestNode node, int count, MemberStatus status = MemberStatus.Alive)
    {
        var members = await node.Admin.ListMembersAsync(new ListMembersRequest());
        return members.Members.Count == count && members.Members.All(m => m.Status == status);
    }

    private static Task WaitFor(Func<Task<bool>> condition, string phase, Func<Task<string>> seen, TimeSpan bound) =>
        Eventually.WaitUntil(condition, phase, seen, bound);

    private static async Task<string> Describe(TestNode node) =>
        string.Join(", ", (await node.Admin.ListMembersAsync(new ListMembersRequest())).Members.Select(m => $"{m.Id}={m.Status}/{m.Incarnation}"));

    [Fact]
    public async Task ThreeNodes_JoinThroughTheirSeeds_AllSeeAllWithTheirModels()
    {
        await using var mesh = await TestMesh.StartAsync(3);

        foreach (var node in mesh.Nodes)
        {
            await WaitFor(() => SeesAll(node, 3), $"{node.Address} sees three alive members", () => Describe(node), TimeSpan.FromSeconds(15));
        }

        var models = await mesh.Nodes[0].Admin.ListMeshModelsAsync(new ListMeshModelsRequest());
        Assert.Equal(["model-n1@n1", "model-n2@n2", "model-n3@n3"], models.Models.Select(m => $"{m.Id}@{m.Node}").Order());
    }

    [Fact]
    public async Task NodeStops_OthersRecordItLeftNotDead()
    {
        await using var mesh = await TestMesh.StartAsync(3);
        foreach (var node in mesh.Nodes)
        {
            await WaitFor(() => SeesAll(node, 3), "converged", () => Describe(node), TimeSpan.FromSeconds(15));
        }

        var leaving = mesh.Nodes[2];
        mesh.Nodes.Remove(leaving);
        await leaving.DisposeAsync();

        await WaitFor(async () => (await mesh.Nodes[0].Admin.ListMembersAsync(new ListMembersRequest())).Members.Single(m => m.Id == "n3").Status == MemberStatus.Left,
            "n3 recorded as left", () => Describe(mesh.Nodes[0]), TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task NodeWithCertificateFromAnotherCa_IsNeverAdmitted()
    {
        await using var mesh = await TestMesh.StartAsync(2);
        foreach (var node in mesh.Nodes)
        {
            await WaitFor(() => SeesAll(node, 2), "converged", () => Describe(node), TimeSpan.FromSeconds(15));
        }

        // Same mesh name, pool and seeds, but certificates from a CA of its own.
        var port = TestMesh.FreePort();
        var rogueDirectory = System.IO.Directory.CreateTempSubdirectory("llmrouter-rogue-");
        try
        {
            var seeds = mesh.Mesh.AllNodes.Select(n => (n.Id, n.Listen.Port)).Append(("rogue", port)).ToList();
            var path = Path.Combine(rogueDirectory.FullName, "mesh.yaml");
            await File.WriteAllTextAsync(path, TestMesh.Yaml(seeds));
            var rogueMesh = MeshConfigLoader.Load(path);
            new CertificateStore(rogueMesh.CertificatesDirectory).EnsureForMesh(rogueMesh, TimeProvider.System.GetUtcNow());
            await using var rogue = await TestNode.StartAsync(rogueMesh, "rogue");

            // The rogue tries to join through every seed, twice (its join retries after a second): each try is refused.
            await Eventually.WaitUntil(() => rogue.Seat.Membership?.Read(state => state.Statistics.MessagesSent) >= 2 * mesh.Nodes.Count,
                "the rogue tries every seed twice", () => $"{rogue.Seat.Membership?.Read(state => state.Statistics.MessagesSent)} messages sent", TimeSpan.FromSeconds(15));

            foreach (var node in mesh.Nodes)
            {
                var members = await node.Admin.ListMembersAsync(new ListMembersRequest());
                Assert.DoesNotContain(members.Members, m => m.Id == "rogue");
                Assert.Equal(2, members.Members.Count);
            }

            var rogueView = rogue.Seat.Membership!.Read(state => state.Count);
            Assert.Equal(1, rogueView);
        }
        finally
        {
            rogueDirectory.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task MeshApi_CalledWithAClientCertificate_PermissionDenied()
    {
        await using var mesh = await TestMesh.StartAsync(1);
        var client = new Mesh.MeshClient(mesh.Nodes[0].Channel);

        var refused = await Assert.ThrowsAsync<RpcException>(() => client.GossipAsync(new GossipRequest { Header = new MeshHeader() }).ResponseAsync);

        Assert.Equal(StatusCode.PermissionDenied, refused.StatusCode);
        Assert.Contains("/client/client may not call /llmrouter.v1.Mesh/Gossip", refused.Status.Detail);
    }

    [Fact]
    public async Task AdminApi_WithoutClientCertificate_Unauthenticated()
    {
        await using var mesh = await TestMesh.StartAsync(1);
        var store = new CertificateStore(mesh.Mesh.CertificatesDirectory);
        using var anonymous = MeshChannels.Create(mesh.Nodes[0].Address, store.LoadCertificate("ca"), clientCertificate: null);

        var refused = await Assert.ThrowsAsync<RpcException>(() => new Admin.AdminClient(anonymous).ListMembersAsync(new ListMembersRequest()).ResponseAsync);

        Assert.Equal(StatusCode.Unauthenticated, refused.StatusCode);
    }
}
