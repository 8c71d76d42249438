using Grpc.Core;
using LlmRouter.Common.Audit;
using LlmRouter.Common.Configuration;
using LlmRouter.Common.Identity;
using LlmRouter.Tests.Infrastructure;
using LlmRouter.V1;
using static LlmRouter.Tests.Node.ChatRequests;

namespace LlmRouter.Tests.Audit;

/// <summary>
/// A node process killed with SIGKILL while its route log is being written under load leaves a log that
/// <c>audit verify</c> (the command, as an operator runs it) accepts: at most a torn last line, which the next start
/// sets aside, and after which the log goes on and still verifies.
/// </summary>
[Collection(ProcessCollection.Name)]
public sealed class RouteLogKillProcessTests : IDisposable
{
    private readonly ProcessGroup _group = new("llmrouter-routelog-kill-");

    public void Dispose() => _group.Dispose();

    [Fact]
    public async Task NodeKilledWhileWritingItsLog_TheLogVerifies_AndGoesOnAfterARestart()
    {
        var port = TestMesh.FreePort();
        var path = Path.Combine(_group.Directory.FullName, "mesh.yaml");
        await File.WriteAllTextAsync(path, "audit:\n  checkpoint_interval: 200ms\n" + TestMesh.Yaml([("n1", port)], preset: "local"));
        var mesh = MeshConfigLoader.Load(path);
        var store = new CertificateStore(mesh.CertificatesDirectory);
        store.EnsureForMesh(mesh, TimeProvider.System.GetUtcNow());
        var log = Path.Combine(mesh.Audit.Directory, "n1");

        _group.Processes["n1"] = NodeProcessRunner.Start("run", "--config", path, "--node", "n1");
        using (var channel = MeshChannels.Create(new Uri($"https://127.0.0.1:{port}"), store.LoadCertificate("ca"), store.LoadWithKey("client")))
        {
            var router = new Router.RouterClient(channel);
            await ServedAsync(router, "the first start");

            // Load from eight callers; the kill comes once the log holds a hundred entries and a checkpoint, with
            // entries still being written.
            using var load = new CancellationTokenSource();
            var callers = Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
            {
                while (!load.IsCancellationRequested)
                {
                    try
                    {
                        await ReadAll(router.Chat(Ask("model-n1", "load", maxTokens: 4)));
                    }
                    catch (RpcException)
                    {
                        // The kill cuts calls off.
                    }
                }
            })).ToList();
            await Eventually.WaitUntil(() => Entries(log) >= 100 && File.Exists(Path.Combine(log, RouteLogFiles.CheckpointsFile)),
                "n1's log holds 100 entries and a checkpoint", () => $"{Entries(log)} entries\n" + _group.Outputs("load"), TimeSpan.FromSeconds(60));
            _group.Processes["n1"].Process.Kill();
            await _group.Processes["n1"].WaitForExitAsync(TimeSpan.FromSeconds(10));
            await load.CancelAsync();
            await Task.WhenAll(callers);
        }

        var killed = await AuditVerifyAsync(path);
        Assert.True(killed.Code == 0, killed.Output);
        Assert.Contains("n1: verified", killed.Output);

        // The next life sets a torn line aside and goes on from the last whole entry.
        var before = Entries(log);
        _group.Processes["n1"] = NodeProcessRunner.Start("run", "--config", path, "--node", "n1");
        using (var channel = MeshChannels.Create(new Uri($"https://127.0.0.1:{port}"), store.LoadCertificate("ca"), store.LoadWithKey("client")))
        {
            await ServedAsync(new Router.RouterClient(channel), "the restart");
        }

        _group.Processes["n1"].Terminate();
        Assert.Equal(0, await _group.Processes["n1"].WaitForExitAsync(TimeSpan.FromSeconds(30)));

        var restarted = await AuditVerifyAsync(path);
        Assert.True(restarted.Code == 0, restarted.Output);
        Assert.True(Entries(log) > before, $"{Entries(log)} entries after the restart, {before} before");
        Assert.DoesNotContain("a write cut short", restarted.Output);
    }

    private async Task ServedAsync(Router.RouterClient router, string phase) => await Eventually.WaitUntil(async () =>
    {
        try
        {
            await ReadAll(router.Chat(Ask("model-n1", "hello", maxTokens: 2)));
            return true;
        }
        catch (RpcException)
        {
            return false;
        }
    }, $"n1 answers after {phase}", () => Task.FromResult(_group.Outputs(phase)), TimeSpan.FromSeconds(60));

    /// <summary>Whole entry lines in the log's segments so far.</summary>
    private static int Entries(string log) =>
        RouteLogFiles.Segments(log).Sum(s => Math.Max(0, RouteLogFiles.ReadLines(s.Path).Lines.Count - 1));

    private static async Task<(int Code, string Output)> AuditVerifyAsync(string path)
    {
        using var verify = NodeProcessRunner.Start("audit", "verify", "--config", path, "--node", "n1");
        var code = await verify.WaitForExitAsync(TimeSpan.FromSeconds(60));
        return (code, verify.Output);
    }
}
