using System.Net;
using System.Net.Sockets;
using Grpc.Core;
using Grpc.Health.V1;
using LlmRouter.Common.Configuration;
using LlmRouter.Common.Identity;
using LlmRouter.Tests.Infrastructure;
using LlmRouter.V1;
using static LlmRouter.Tests.Node.ChatRequests;

namespace LlmRouter.Tests.Node;

/// <summary>The real program, as an operator runs it: start, serve, SIGTERM drain, and refusal of a bad file.</summary>
[Collection(ProcessCollection.Name)]
public sealed class NodeProcessTests : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("llmrouter-process-");

    public void Dispose() => _directory.Delete(recursive: true);

    private string WriteMesh(string yaml)
    {
        var path = Path.Combine(_directory.FullName, "mesh.yaml");
        File.WriteAllText(path, yaml);
        return path;
    }

    [Fact]
    public async Task Run_ThenSigterm_ServesDrainsAndExitsCleanly()
    {
        var port = TestMesh.FreePort();
        var backend = MeshYaml.Simulated(settings: "time_to_first_token: 0ms\ntokens_per_second: 20");
        // A 2 s drain notice keeps NOT_SERVING observable even when this test host is slow to poll.
        var path = WriteMesh(MeshYaml.SingleNode(backend, server: "drain_notice: 2s").Replace("127.0.0.1:7999", $"127.0.0.1:{port}", StringComparison.Ordinal));
        using var node = NodeProcessRunner.Start("run", "--config", path, "--node", "n1");

        var mesh = MeshConfigLoader.Load(path);
        await Eventually.WaitUntil(() => File.Exists(new CertificateStore(mesh.CertificatesDirectory).CertificatePath("client")),
            "development certificates created on first run", () => node.Output, TimeSpan.FromSeconds(30));
        var store = new CertificateStore(mesh.CertificatesDirectory);
        using var channel = MeshChannels.Create(new Uri($"https://127.0.0.1:{port}"), store.LoadCertificate("ca"), store.LoadWithKey("client"));
        var health = new Health.HealthClient(channel);
        await WaitServing(health, node);

        var router = new Router.RouterClient(channel);
        using var open = router.Chat(Ask("sim-model", "long enough to span the drain", maxTokens: 15));
        Assert.True(await open.ResponseStream.MoveNext(CancellationToken.None));
        node.Terminate();

        await Eventually.WaitUntil(async () => await Status(health) == "NotServing", "health turns NOT_SERVING on SIGTERM",
            async () => $"{await Status(health)}; node output:\n{node.Output}");
        var refused = await Assert.ThrowsAsync<RpcException>(() => ReadAll(router.Chat(Ask("sim-model", "new call"))));
        Assert.Equal(StatusCode.Unavailable, refused.StatusCode);
        var rest = await ReadAll(open);
        Assert.Equal(15UL, rest[^1].Completed.Usage.OutputTokens);
        Assert.Equal(0, await node.WaitForExitAsync(TimeSpan.FromSeconds(20)));
        Assert.Contains("draining", node.Output);
    }

    [Fact]
    public async Task Run_MalformedMeshFile_ExitsWithFileLineAndField()
    {
        var path = WriteMesh(MeshYaml.SingleNode(MeshYaml.Simulated()).Replace("listen: https://127.0.0.1:7999", "listen: https://127.0.0.1", StringComparison.Ordinal));
        using var node = NodeProcessRunner.Start("run", "--config", path, "--node", "n1");

        Assert.Equal(2, await node.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        Assert.Matches(@"mesh\.yaml:\d+:\d+: pools\[0\]\.nodes\[0\]\.listen: 'https://127\.0\.0\.1/' must name a host and an explicit port", node.Output);
        Assert.DoesNotContain("   at ", node.Output);
    }

    [Fact]
    public async Task CertsClient_ConfigAfterTheName_IssuesIt_AndACertificateNotThereIsAnError()
    {
        var path = WriteMesh(MeshYaml.SingleNode(MeshYaml.Simulated()).Replace("clients: [client]", "clients: [client, reports]", StringComparison.Ordinal));
        using (var certs = NodeProcessRunner.Start("certs", "--config", path))
        {
            Assert.Equal(0, await certs.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        }

        using (var client = NodeProcessRunner.Start("certs", "client", "reports", "--config", path))
        {
            Assert.Equal(0, await client.WaitForExitAsync(TimeSpan.FromSeconds(30)));
            Assert.Contains("for spiffe://test/client/reports", client.Output);
            Assert.Contains("it acts as tenant 'everyone'", client.Output);
        }

        // Asked for by name and not there: an error, never a call made without it (served as someone else).
        using var chat = NodeProcessRunner.Start("chat", "--config", path, "--node", "n1", "--cert", "nobody", "hello");
        Assert.Equal(2, await chat.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains("--cert: no client certificate 'nobody'", chat.Output);
        Assert.Contains("llm-router-node certs client nobody", chat.Output);
    }

    [Fact]
    public async Task Run_UnknownNode_ExitsNamingTheNodesInTheFile()
    {
        var path = WriteMesh(MeshYaml.SingleNode(MeshYaml.Simulated()));
        using var node = NodeProcessRunner.Start("run", "--config", path, "--node", "zz");

        Assert.Equal(2, await node.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains("no node 'zz' (nodes: n1)", node.Output);
    }

    private static async Task<string> Status(Health.HealthClient health)
    {
        try
        {
            var reply = await health.CheckAsync(new HealthCheckRequest(), deadline: TimeProvider.System.GetUtcNow().UtcDateTime.AddSeconds(1));
            return reply.Status.ToString();
        }
        catch (RpcException ex)
        {
            return $"{ex.StatusCode} ({ex.Status.Detail})";
        }
    }

    private static Task WaitServing(Health.HealthClient health, NodeProcessRunner node) =>
        Eventually.WaitUntil(async () => !node.Process.HasExited && await Status(health) == "Serving", "the node reports SERVING",
            () => Task.FromResult(node.Output), TimeSpan.FromSeconds(30));
}
