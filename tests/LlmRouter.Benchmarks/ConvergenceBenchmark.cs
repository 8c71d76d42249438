using System.Diagnostics;
using Grpc.Net.Client;
using LlmRouter.Common.Configuration;
using LlmRouter.Common.Identity;
using LlmRouter.V1;

namespace LlmRouter.Benchmarks;

/// <summary>
/// Membership of real processes (issue 6, item 4): five llm-router-node processes on loopback with mutual
/// TLS and the LAN preset, all joining through one seed. Per round: the time from the start of the
/// processes until all five answer (process start-up) and until every member lists all five alive; the time until
/// the four others list a SIGKILLed member dead, and until all list it alive again after its restart.
/// What each member lists is read through its Admin API every 50 ms.
/// </summary>
internal static class ConvergenceBenchmark
{
    private const int Members = 5;
    private const int Rounds = 3;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(90);

    public static async Task<int> RunAsync()
    {
        var rounds = new List<(double Serving, double Join, double Detect, double Rejoin)>();
        for (var round = 0; round < Rounds; round++)
        {
            rounds.Add(await RoundAsync());
        }

        Console.WriteLine($"Membership of {Members} llm-router-node processes (LAN preset: probe 1 s, suspicion 4 x log10(N) s min), mutual TLS on loopback, {Environment.ProcessorCount} cores, {Rounds} rounds");
        Console.WriteLine();
        Console.WriteLine($"{"round",5} {"all five serve",15} {"all see all alive",18} {"SIGKILL dead at all",20} {"restart alive at all",21}");
        for (var i = 0; i < rounds.Count; i++)
        {
            Console.WriteLine($"{i + 1,5} {rounds[i].Serving,14:0.00}s {rounds[i].Join,17:0.00}s {rounds[i].Detect,19:0.00}s {rounds[i].Rejoin,20:0.00}s");
        }

        static double Median(IEnumerable<double> values) => values.Order().ElementAt(Rounds / 2);
        Console.WriteLine($"{"median",5} {Median(rounds.Select(r => r.Serving)),14:0.00}s {Median(rounds.Select(r => r.Join)),17:0.00}s {Median(rounds.Select(r => r.Detect)),19:0.00}s {Median(rounds.Select(r => r.Rejoin)),20:0.00}s");
        Findings.Add("gossip, 5 processes", "join through one seed: all see all alive (median)", $"{Median(rounds.Select(r => r.Join)):0.0} s", $"all serving {Median(rounds.Select(r => r.Serving)):0.0} s");
        Findings.Add("gossip, 5 processes", "SIGKILL declared dead by all (median, max)", $"{Median(rounds.Select(r => r.Detect)):0.0} s, {rounds.Max(r => r.Detect):0.0} s");
        Findings.Add("gossip, 5 processes", "restarted member alive at all (median)", $"{Median(rounds.Select(r => r.Rejoin)):0.0} s");
        return 0;
    }

    private static async Task<(double, double, double, double)> RoundAsync()
    {
        var directory = Directory.CreateTempSubdirectory("llmrouter-bench-convergence-");
        var processes = new Dictionary<string, ChildProcess>();
        var channels = new Dictionary<string, GrpcChannel>();
        try
        {
            var nodes = Enumerable.Range(1, Members).Select(i => ($"n{i}", BenchMesh.FreePort())).ToList();
            var (path, _, store) = await BenchMesh.CreateAsync(directory, Pools(nodes), preset: "lan");
            foreach (var (id, port) in nodes)
            {
                channels[id] = BenchMesh.ClientChannel(store, port);
            }

            var clock = Stopwatch.StartNew();
            foreach (var (id, _) in nodes)
            {
                processes[id] = ChildProcess.StartNode(path, id);
            }

            var lastServing = TimeSpan.Zero;
            var serving = new HashSet<string>();
            var joined = await UntilAsync(clock, channels.Keys, members =>
            {
                foreach (var (id, list) in members)
                {
                    if (list is not null && serving.Add(id))
                    {
                        lastServing = clock.Elapsed;
                    }
                }

                return members.All(m => m.Value?.Count(x => x.Status == MemberStatus.Alive) == Members);
            }, channels, "all five see all five alive", processes);

            var victim = nodes[^1].Item1;
            var others = channels.Keys.Where(id => id != victim).ToList();
            processes[victim].Kill();
            var killedAt = clock.Elapsed;
            var detected = await UntilAsync(clock, others, members => members.All(m => m.Value?.FirstOrDefault(x => x.Id == victim)?.Status == MemberStatus.Dead),
                channels, $"{victim} dead at all others", processes);

            await processes[victim].DisposeAsync();
            var restartedAt = clock.Elapsed;
            processes[victim] = ChildProcess.StartNode(path, victim);
            var rejoined = await UntilAsync(clock, channels.Keys, members => members.All(m => m.Value?.FirstOrDefault(x => x.Id == victim) is { Status: MemberStatus.Alive, Incarnation: > 0 }),
                channels, $"{victim} alive again at all", processes);
            return (lastServing.TotalSeconds, joined.TotalSeconds, (detected - killedAt).TotalSeconds, (rejoined - restartedAt).TotalSeconds);
        }
        finally
        {
            foreach (var process in processes.Values)
            {
                await process.DisposeAsync();
            }

            foreach (var channel in channels.Values)
            {
                channel.Dispose();
            }

            directory.Delete(recursive: true);
        }
    }

    /// <summary>Polls every listed member's view every 50 ms until the condition holds; returns the clock's time then.</summary>
    private static async Task<TimeSpan> UntilAsync(
        Stopwatch clock,
        IEnumerable<string> observers,
        Func<Dictionary<string, IReadOnlyList<Member>?>, bool> condition,
        Dictionary<string, GrpcChannel> channels,
        string phase,
        Dictionary<string, ChildProcess> processes)
    {
        var started = clock.Elapsed;
        var ids = observers.ToList();
        while (true)
        {
            var views = await Task.WhenAll(ids.Select(async id =>
            {
                try
                {
                    var response = await new Admin.AdminClient(channels[id]).ListMembersAsync(new ListMembersRequest(), deadline: TimeProvider.System.GetUtcNow().UtcDateTime.AddSeconds(2));
                    return (id, (IReadOnlyList<Member>?)response.Members);
                }
                catch (Grpc.Core.RpcException)
                {
                    return (id, null);
                }
            }));
            var now = clock.Elapsed;
            if (condition(views.ToDictionary(v => v.id, v => v.Item2)))
            {
                return now;
            }

            if (now - started > Bound)
            {
                throw new TimeoutException($"{phase}: not reached within {Bound.TotalSeconds:0} s\n" +
                    string.Join("\n", processes.Select(p => $"--- {p.Key} ---\n{p.Value.Output}")));
            }

            await Task.Delay(50);
        }
    }

    private static string Pools(IReadOnlyList<(string Id, int Port)> nodes) => $"""
        pools:
          - name: pool
            seeds: [https://127.0.0.1:{nodes[0].Port}]
            nodes:
        {string.Join("\n", nodes.Select(n => $"""
              - id: {n.Id}
                listen: https://127.0.0.1:{n.Port}
                backends:
                  - {"{"} id: sim-{n.Id}, kind: simulated, models: [ {"{"} id: model-{n.Id} {"}"} ] {"}"}
        """))}
        """;
}
