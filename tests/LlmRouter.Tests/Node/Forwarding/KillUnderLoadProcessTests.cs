using Grpc.Core;
using LlmRouter.Common.Configuration;
using LlmRouter.Common.Identity;
using LlmRouter.Tests.Infrastructure;
using LlmRouter.V1;
using static LlmRouter.Tests.Node.ChatRequests;

namespace LlmRouter.Tests.Node.Forwarding;

/// <summary>
/// Three real node processes; concurrent streamed requests enter n1 and are served by n2 or n3; n2 is
/// killed with SIGKILL mid-stream. Every request ends with a whole answer, a continued answer (seam
/// marked) or a status: none vanishes, and no answer is generated twice.
/// </summary>
[Collection(ProcessCollection.Name)]
public sealed class KillUnderLoadProcessTests : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("llmrouter-kill-");
    private readonly Dictionary<string, NodeProcessRunner> _processes = [];

    public void Dispose()
    {
        foreach (var process in _processes.Values)
        {
            process.Dispose();
        }

        _directory.Delete(recursive: true);
    }

    [Fact]
    public async Task ServingNodeKilledUnderLoad_EveryRequestEndsWholeContinuedOrWithAStatus()
    {
        var nodes = Enumerable.Range(1, 3).Select(i => ($"n{i}", TestMesh.FreePort())).ToList();
        var path = Path.Combine(_directory.FullName, "mesh.yaml");
        await File.WriteAllTextAsync(path, TestMesh.Yaml(nodes, preset: "local", backends: node => node == "n1"
            ? TestMesh.DefaultBackend(node)
            : TestMesh.Backend($"sim-{node}", "shared", simulated: "time_to_first_token: 50ms\ntokens_per_second: 20", maxConcurrency: 32)));
        var mesh = MeshConfigLoader.Load(path);
        var store = new CertificateStore(mesh.CertificatesDirectory);
        store.EnsureForMesh(mesh, TimeProvider.System.GetUtcNow());
        foreach (var (id, _) in nodes)
        {
            _processes[id] = NodeProcessRunner.Start("run", "--config", path, "--node", id);
        }

        using var channel = MeshChannels.Create(new Uri($"https://127.0.0.1:{nodes[0].Item2}"), store.LoadCertificate("ca"), store.LoadWithKey("client"));
        var admin = new Admin.AdminClient(channel);
        var router = new Router.RouterClient(channel);
        await Eventually.WaitUntil(async () =>
        {
            try
            {
                return (await admin.ListMeshModelsAsync(new ListMeshModelsRequest())).Models.Count(m => m.Id == "shared") == 2;
            }
            catch (RpcException)
            {
                return false;
            }
        }, "n1 knows both copies of shared", () => Task.FromResult(_processes["n1"].Output), TimeSpan.FromSeconds(60));

        const int Requests = 24;
        var outcomes = Enumerable.Range(0, Requests).Select(async i =>
        {
            var request = Ask("shared", $"question {i}", maxTokens: 20);
            request.AllowContinuation = true;
            try
            {
                var frames = await ReadAll(router.Chat(request, deadline: TimeProvider.System.GetUtcNow().UtcDateTime.AddSeconds(60)));
                if (frames.Count(f => f.Route is not null) != 1)
                {
                    return "more than one route";
                }

                return frames[^1].Completed is { } done ? (done.Continued ? "continued" : "whole") : "no final frame";
            }
            catch (RpcException ex)
            {
                return $"status {ex.StatusCode}";
            }
        }).ToList();

        // Kill n2 while answers are streaming (each takes about a second).
        await Task.Delay(TimeSpan.FromMilliseconds(500));
        _processes["n2"].Process.Kill();
        var results = await Task.WhenAll(outcomes);

        var counts = results.GroupBy(r => r).ToDictionary(g => g.Key, g => g.Count());
        Console.WriteLine($"{Requests} sent: " + string.Join(", ", counts.Select(c => $"{c.Value} {c.Key}")));
        Assert.Equal(Requests, results.Length);
        Assert.DoesNotContain("no final frame", counts.Keys);
        Assert.DoesNotContain("more than one route", counts.Keys);
        Assert.True(counts.GetValueOrDefault("continued") > 0, "no stream was continued after the kill: " + string.Join(", ", counts));
    }
}
