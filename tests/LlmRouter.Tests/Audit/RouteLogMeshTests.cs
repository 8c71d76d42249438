using LlmRouter.Common.Audit;
using LlmRouter.Common.Identity;
using LlmRouter.Tests.Infrastructure;
using LlmRouter.V1;
using Microsoft.Extensions.DependencyInjection;

namespace LlmRouter.Tests.Audit;

/// <summary>
/// The route log in a running mesh: every hop of a forwarded request writes its entry, the checkpoints a node signs
/// reach its peer by gossip and are kept there, and with the peer's copy a log cut back, its own checkpoints removed
/// with it, is still caught.
/// </summary>
public sealed class RouteLogMeshTests
{
    [Fact]
    public async Task Chat_Forwarded_EachHopWritesItsEntry_AndThePeerKeepsTheCheckpointThatCatchesACutLog()
    {
        await using var mesh = await TestMesh.StartAsync(2, backends: node => node == "n2" ? TestMesh.Backend("sim-n2", "far") : TestMesh.DefaultBackend(node));
        var (n1, n2) = (mesh.Nodes[0], mesh.Nodes[1]);
        await n1.KnowsModelAsync("far");

        var request = new ChatRequest { Model = "far", Messages = { new ChatMessage { Role = Role.User, Content = "hello" } } };
        using (var call = n1.Router.Chat(request))
        {
            while (await call.ResponseStream.MoveNext(CancellationToken.None))
            {
            }
        }

        var log1 = n1.Services.GetRequiredService<RouteLog>();
        var log2 = n2.Services.GetRequiredService<RouteLog>();
        var signed = await log1.FlushAsync();
        await log2.FlushAsync();
        Assert.NotNull(signed);

        var entry = RouteLogFiles.ReadLines(RouteLogFiles.Segments(log1.Directory)[0].Path).Lines.Skip(1).Select(l => System.Text.Encoding.UTF8.GetString(l.Line)).Single();
        var served = RouteLogFiles.ReadLines(RouteLogFiles.Segments(log2.Directory)[0].Path).Lines.Skip(1).Select(l => System.Text.Encoding.UTF8.GetString(l.Line)).Single();
        Assert.Contains("\"hop\":\"entry\"", entry);
        Assert.Contains("\"serving_node\":\"n2\"", entry);
        Assert.Contains("\"hop\":\"forwarded\"", served);
        Assert.Contains("\"path\":[\"n1\",\"n2\"]", served);
        Assert.DoesNotContain("hello", entry + served);

        var kept = Path.Combine(log2.Directory, RouteLogFiles.PeersDirectory, "n1.jsonl");
        await Eventually.WaitUntil(() => RouteLogFiles.ReadCheckpoints(kept).Exists(c => c.Size == signed!.Size),
            "n2 keeps n1's checkpoint", () => string.Join(", ", RouteLogFiles.ReadCheckpoints(kept).Select(c => c.Size)));

        var store = new CertificateStore(mesh.Mesh.CertificatesDirectory);
        using var authority = store.LoadCertificate(CertificateStore.CaName);
        var peers = RouteLogFiles.ReadCheckpoints(kept).Select(c => (c, "kept by n2")).ToList();
        Assert.True(RouteLogVerifier.Verify(log1.Directory, "n1", authority, mesh.Mesh.Name, peers).Verified);

        // n1's log cut back to its header, and its own checkpoints with it: only n2's copy remembers.
        await n1.DisposeAsync();
        var segment = RouteLogFiles.Segments(log1.Directory)[0].Path;
        await File.WriteAllLinesAsync(segment, [File.ReadLines(segment).First()]);
        File.Delete(Path.Combine(log1.Directory, RouteLogFiles.CheckpointsFile));

        var report = RouteLogVerifier.Verify(log1.Directory, "n1", authority, mesh.Mesh.Name, peers);
        Assert.False(report.Verified);
        Assert.Contains(report.Problems, p => p.Contains("(kept by n2) covers 1 entries: entries 0 to 0 were cut off", StringComparison.Ordinal));
    }

    [Fact]
    public async Task AuditShowRemote_CollectsTheRequestsEntriesFromEveryNodeOverTheAdminApi_EachProven()
    {
        await using var mesh = await TestMesh.StartAsync(2, backends: node => node == "n2" ? TestMesh.Backend("sim-n2", "far") : TestMesh.DefaultBackend(node));
        var (n1, n2) = (mesh.Nodes[0], mesh.Nodes[1]);
        await n1.KnowsModelAsync("far");
        var request = new ChatRequest { Model = "far", Messages = { new ChatMessage { Role = Role.User, Content = "hello" } } };
        string id;
        using (var call = n1.Router.Chat(request))
        {
            Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
            id = call.ResponseStream.Current.Route.RequestId;
            while (await call.ResponseStream.MoveNext(CancellationToken.None))
            {
            }
        }

        // Straight from the Admin API: the entry as stored, and a proof that holds against the signed checkpoint.
        var served = await n2.Admin.RouteLogEntriesAsync(new RouteLogEntriesRequest { RequestId = id });
        var stored = Assert.Single(served.Entries);
        var checkpoint = Checkpoint.Parse(stored.Checkpoint.ToStringUtf8())!;
        Assert.True(MerkleTree.VerifyInclusion(MerkleTree.LeafHash(stored.Line.Span), (long)stored.Index, checkpoint.Size, [.. stored.Proof.Select(p => p.ToByteArray())], checkpoint.Root));
        var refused = await Assert.ThrowsAsync<Grpc.Core.RpcException>(async () => await n1.Admin.RouteLogEntriesAsync(new RouteLogEntriesRequest()));
        Assert.Equal(Grpc.Core.StatusCode.InvalidArgument, refused.StatusCode);
        Assert.StartsWith("request_id: required", refused.Status.Detail, StringComparison.Ordinal);

        // As an operator on another machine would: the command asks every process of the mesh file.
        using var show = NodeProcessRunner.Start("audit", "show", id, "--remote", "--config", n1.ConfigPath);
        Assert.Equal(0, await show.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        var lines = show.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Contains(lines, l => l.StartsWith("n1 entry 0 (entry)", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("n2 entry 0 (forwarded)", StringComparison.Ordinal));
        Assert.Equal(2, lines.Count(l => l.StartsWith("included in the tree of", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task IdempotencyKey_TheReplayAndAReuseForAnotherRequest_EachLeaveAnEntry()
    {
        await using var node = await TestNode.StartAsync(MeshYaml.SingleNode(MeshYaml.Simulated()));
        ChatRequest Request(string text) => new() { Model = "sim-model", IdempotencyKey = "order-42", Messages = { new ChatMessage { Role = Role.User, Content = text } } };
        async Task SendAsync(ChatRequest request)
        {
            using var call = node.Router.Chat(request);
            while (await call.ResponseStream.MoveNext(CancellationToken.None))
            {
            }
        }

        await SendAsync(Request("hello"));
        await SendAsync(Request("hello"));
        var reused = await Assert.ThrowsAsync<Grpc.Core.RpcException>(() => SendAsync(Request("something else")));

        var log = node.Services.GetRequiredService<RouteLog>();
        await log.FlushAsync();
        var entries = RouteLogExport.Entries(log.Directory).Select(e => System.Text.Encoding.UTF8.GetString(e.Line)).ToList();
        Assert.Equal(3, entries.Count);
        Assert.Contains("\"outcome\":\"whole\"", entries[0], StringComparison.Ordinal);
        Assert.Contains("\"outcome\":\"replayed\"", entries[1], StringComparison.Ordinal);
        Assert.Contains("\"policies\":[\"idempotent-replay\"]", entries[1], StringComparison.Ordinal);
        Assert.Contains($"\"status\":\"{RouterStatusName(reused.StatusCode)}\"", entries[2], StringComparison.Ordinal);
    }

    private static string RouterStatusName(Grpc.Core.StatusCode status) => LlmRouter.Common.Telemetry.RouterMetrics.StatusName(status);
}
