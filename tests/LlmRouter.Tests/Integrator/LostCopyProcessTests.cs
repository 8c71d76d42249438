using System.Diagnostics;
using Grpc.Core;
using LlmRouter.Common.Configuration;
using LlmRouter.Common.Identity;
using LlmRouter.Tests.Infrastructure;
using LlmRouter.V1;
using static LlmRouter.Tests.Node.ChatRequests;

namespace LlmRouter.Tests.Integrator;

/// <summary>
/// Two copies of a model behind a border (b1, b2 in pool b), reached from a1 (pool a) through one integrator,
/// each a real process. Concurrent streamed requests enter a1; b2 is killed with SIGKILL once one of its
/// streams has delivered a token. Only the streams that were on b2 are touched (each continued by b1 at a
/// marked seam, or ended with a status); every request sent after the kill is answered by b1; none is lost
/// or answered twice, and no breaker turns requests away: failures are recorded against the copy that failed.
/// </summary>
[Collection(ProcessCollection.Name)]
public sealed class LostCopyProcessTests : IDisposable
{
    private const int Requests = 60;
    private const int Concurrency = 12;
    private readonly ProcessGroup _group = new("llmrouter-lost-copy-");

    private Dictionary<string, NodeProcessRunner> Processes => _group.Processes;

    public void Dispose() => _group.Dispose();

    [Fact]
    public async Task OneOfTwoCopiesBehindABorderKilledUnderLoad_OnlyItsStreamsAreTouched_AndLaterRequestsGoToTheOther()
    {
        var (mesh, store) = await _group.StartMeshAsync(BorderMesh.Yaml([("a", [("a1", "m-a")]), ("b", [("b1", "shared"), ("b2", "shared")])], [("i1", ["a", "b"], [])],
            "time_to_first_token: 50ms\ntokens_per_second: 20", maxConcurrency: 32));
        using var toA1 = ProcessGroup.Channel(store, mesh.FindNode("a1")!.Listen);
        using var toI1 = ProcessGroup.Channel(store, mesh.FindIntegrator("i1")!.Pools.Single(p => p.Pool == "b").Listen);
        await Eventually.WaitUntil(Eventually.Answered(async () =>
                (await new Admin.AdminClient(toA1).ListMeshModelsAsync(new ListMeshModelsRequest())).Routes.Any(r => r.Route.Model.Id == "shared")
                && (await new Admin.AdminClient(toI1).ListMeshModelsAsync(new ListMeshModelsRequest())).Models.Count(m => m.Id == "shared") == 2),
            "a1 has a route to shared and i1 knows both copies", () => Task.FromResult(Outputs()), TimeSpan.FromSeconds(60));

        var router = new Router.RouterClient(toA1);
        var clock = Stopwatch.StartNew();
        var killedAt = TimeSpan.MaxValue;
        var b2Streaming = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var next = 0;
        var outcomes = new Outcome[Requests];
        var workers = Enumerable.Range(0, Concurrency).Select(async _ =>
        {
            for (var i = Interlocked.Increment(ref next) - 1; i < Requests; i = Interlocked.Increment(ref next) - 1)
            {
                outcomes[i] = await AskAsync(router, i, clock.Elapsed, b2Streaming);
            }
        }).ToList();

        var first = await Task.WhenAny(b2Streaming.Task, Task.WhenAll(workers));
        Assert.True(first == b2Streaming.Task, "every request finished and none streamed from b2");
        Processes["b2"].Process.Kill();
        killedAt = clock.Elapsed;
        await Task.WhenAll(workers);

        var kinds = outcomes.GroupBy(o => o.Kind).ToDictionary(g => g.Key, g => g.Count());
        Console.WriteLine($"{Requests} sent: " + string.Join(", ", kinds.Select(k => $"{k.Value} {k.Key}"))
            + $"; first on b2: {outcomes.Count(o => o.FirstServer == "b2")}; sent after the kill: {outcomes.Count(o => o.SentAt > killedAt)}");
        Assert.DoesNotContain("lost", kinds.Keys);
        Assert.DoesNotContain("answered twice", kinds.Keys);
        Assert.True(kinds.GetValueOrDefault("continued") > 0, "no stream on b2 was cut and continued: " + string.Join(", ", kinds));
        Assert.All(outcomes.Where(o => o.FirstServer != "b2"), o => Assert.Equal(("whole", "b1"), (o.Kind, o.FirstServer)));
        Assert.All(outcomes.Where(o => o.SentAt > killedAt), o => Assert.Equal(("whole", "b1"), (o.Kind, o.FirstServer)));
        Assert.All(outcomes.Where(o => o.Kind == "continued"), o => Assert.Equal(("b2", "b1"), (o.FirstServer, o.ContinuedBy)));
        Assert.True(outcomes.Count(o => o.SentAt > killedAt) >= Requests / 2, "too few requests were sent after the kill for the test to mean anything");
    }

    private static async Task<Outcome> AskAsync(Router.RouterClient router, int index, TimeSpan sentAt, TaskCompletionSource b2Streaming)
    {
        var request = Ask("shared", $"question {index}", maxTokens: 40);
        request.AllowContinuation = true;
        var frames = new List<ChatResponse>();
        string Server() => frames.FirstOrDefault(f => f.Route is not null)?.Route.ServingNode ?? "";
        try
        {
            using var call = router.Chat(request, deadline: TimeProvider.System.GetUtcNow().UtcDateTime.AddSeconds(90));
            await foreach (var frame in call.ResponseStream.ReadAllAsync())
            {
                frames.Add(frame);
                if (frame.Delta is not null && Server() == "b2")
                {
                    b2Streaming.TrySetResult();
                }
            }
        }
        catch (RpcException ex)
        {
            return new Outcome(sentAt, Server(), "", $"status {ex.StatusCode}");
        }

        var seam = frames.SingleOrDefault(f => f.Seam is not null)?.Seam;
        var kind = frames.Count(f => f.Route is not null) != 1 ? "answered twice"
            : frames[^1].Completed is { } done ? (done.Continued ? "continued" : "whole")
            : "lost";
        return new Outcome(sentAt, Server(), seam?.Route.ServingNode ?? "", kind);
    }

    private string Outputs() => _group.Outputs("not yet");

    private sealed record Outcome(TimeSpan SentAt, string FirstServer, string ContinuedBy, string Kind);
}
