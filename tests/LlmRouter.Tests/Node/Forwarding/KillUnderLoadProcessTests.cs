using Grpc.Core;
using LlmRouter.Common.Configuration;
using LlmRouter.Common.Identity;
using LlmRouter.Tests.Infrastructure;
using LlmRouter.V1;
using static LlmRouter.Tests.Node.ChatRequests;

namespace LlmRouter.Tests.Node.Forwarding;

/// <summary>
/// Three real node processes; concurrent streamed requests enter n1 and are served by n2 (the better copy)
/// or n3; the copy whose stream delivers the burst's first token is killed with SIGKILL at that moment. Every request ends with a whole answer, a continued answer (seam marked,
/// continued by the other copy) or a status: none vanishes, and no answer is generated twice.
/// </summary>
[Collection(ProcessCollection.Name)]
public sealed class KillUnderLoadProcessTests : IDisposable
{
    private readonly ProcessGroup _group = new("llmrouter-kill-");

    private Dictionary<string, NodeProcessRunner> Processes => _group.Processes;

    public void Dispose() => _group.Dispose();

    [Fact]
    public async Task ServingNodeKilledUnderLoad_EveryRequestEndsWholeContinuedOrWithAStatus()
    {
        var nodes = Enumerable.Range(1, 3).Select(i => ($"n{i}", TestMesh.FreePort())).ToList();
        var path = Path.Combine(_group.Directory.FullName, "mesh.yaml");
        await File.WriteAllTextAsync(path, TestMesh.Yaml(nodes, preset: "local", backends: node => node == "n1"
            ? TestMesh.DefaultBackend(node)
            : TestMesh.Backend($"sim-{node}", "shared", quality: node == "n2" ? 0.9 : 0.5, simulated: "time_to_first_token: 50ms\ntokens_per_second: 20", maxConcurrency: 32)));
        var mesh = MeshConfigLoader.Load(path);
        var store = new CertificateStore(mesh.CertificatesDirectory);
        store.EnsureForMesh(mesh, TimeProvider.System.GetUtcNow());
        foreach (var (id, _) in nodes)
        {
            Processes[id] = NodeProcessRunner.Start("run", "--config", path, "--node", id);
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
        }, "n1 knows both copies of shared", () => Task.FromResult(Processes["n1"].Output), TimeSpan.FromSeconds(60));

        // The burst below must not be the first use of n1's connections: a hiccup of a first connect under load would
        // fail every call queued behind it at once, and open both breakers. One request served first, and n1 ranking
        // a copy first with nothing cooling down, make the burst meet a path that works.
        var ranking = "";
        await Eventually.WaitUntil(async () =>
        {
            try
            {
                await ReadAll(router.Chat(Ask("shared", "warm up", maxTokens: 1), deadline: TimeProvider.System.GetUtcNow().UtcDateTime.AddSeconds(10)));
                var explained = await admin.ExplainAsync(new ExplainRequest { Request = Ask("shared", "rank", maxTokens: 60) });
                ranking = string.Join(", ", explained.Candidates.Select(c => $"{c.Node} {c.Score:0.000} {c.Excluded}"));
                return explained.WinnerNode is "n2" or "n3" && explained.Candidates.Where(c => c.Node is "n2" or "n3").All(c => c.Excluded.Length == 0);
            }
            catch (RpcException ex)
            {
                ranking = ex.Status.Detail;
                return false;
            }
        }, "n1 serves shared and ranks n2 or n3 first with nothing cooling down", () => Task.FromResult(ranking + "\n" + _group.Outputs("warm-up")), TimeSpan.FromSeconds(60));

        // The copy killed is the one whose stream delivers the burst's first token, and the kill waits for that event,
        // not for a fixed time. Which copy that is stays the router's choice: the ranking the warm-up read can change
        // before the burst (n3's measured speed, the load each copy gossips), so it is not fixed in advance.
        var firstStreaming = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        const int Requests = 24;
        var outcomes = Enumerable.Range(0, Requests).Select(async i =>
        {
            // 60 tokens at 20 per second: each answer streams for about 3 s, long enough to be cut by the kill.
            var request = Ask("shared", $"question {i}", maxTokens: 60);
            request.AllowContinuation = true;
            var frames = new List<ChatResponse>();
            try
            {
                using var call = router.Chat(request, deadline: TimeProvider.System.GetUtcNow().UtcDateTime.AddSeconds(60));
                await foreach (var frame in call.ResponseStream.ReadAllAsync())
                {
                    frames.Add(frame);
                    if (frame.Delta is not null && frames[0].Route?.ServingNode is "n2" or "n3")
                    {
                        firstStreaming.TrySetResult(frames[0].Route.ServingNode);
                    }
                }
            }
            catch (RpcException ex)
            {
                return new Outcome(frames.FirstOrDefault()?.Route?.ServingNode, $"status {ex.StatusCode}", frames, ex.Status.Detail);
            }

            var kind = frames.Count(f => f.Route is not null) != 1 ? "more than one route"
                : frames[^1].Completed is { } done ? (done.Continued ? "continued" : "whole") : "no final frame";
            return new Outcome(frames[0].Route?.ServingNode, kind, frames);
        }).ToList();

        var first = await Task.WhenAny(firstStreaming.Task, Task.WhenAll(outcomes));
        if (first != firstStreaming.Task)
        {
            Assert.Fail(_group.Outputs("every request finished and none streamed from n2 or n3:\n"
                + string.Join("\n", outcomes.Select(o => $"{o.Result.ServingNode}:{o.Result.Kind} {o.Result.Detail}"))));
        }

        var victim = await firstStreaming.Task;
        var survivor = victim == "n2" ? "n3" : "n2";
        Processes[victim].Process.Kill();
        var results = await Task.WhenAll(outcomes);

        var counts = results.GroupBy(r => r.Kind).ToDictionary(g => g.Key, g => g.Count());
        Console.WriteLine($"{Requests} sent: " + string.Join(", ", counts.Select(c => $"{c.Value} {c.Key}"))
            + $"; first served by {victim} (killed): {results.Count(r => r.ServingNode == victim)}");
        Assert.Equal(Requests, results.Length);
        Assert.DoesNotContain("no final frame", counts.Keys);
        Assert.DoesNotContain("more than one route", counts.Keys);
        Assert.True(counts.GetValueOrDefault("continued") > 0, "no stream was continued after the kill: " + string.Join(", ", counts));

        // Streams that began on the survivor were never touched by the kill; every continued stream was taken over by it.
        Assert.All(results.Where(r => r.ServingNode == survivor), r => Assert.Equal("whole", r.Kind));
        Assert.All(results.Where(r => r.Kind == "continued"), r =>
        {
            Assert.Equal(victim, r.ServingNode);
            Assert.Equal(survivor, Assert.Single(r.Frames, f => f.Seam is not null).Seam.Route.ServingNode);
        });
    }

    private sealed record Outcome(string? ServingNode, string Kind, IReadOnlyList<ChatResponse> Frames, string? Detail = null);
}
