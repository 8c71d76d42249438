using System.Diagnostics;
using System.Globalization;
using Grpc.Core;
using Grpc.Net.Client;
using LlmRouter.Simulation;
using LlmRouter.V1;

namespace LlmRouter.Benchmarks;

/// <summary>
/// How far over a tenant's cap the mesh admits (issue 13, item 4), in the simulator: N = 10, 100, 1000 members of
/// one pool, the tenant sending from every member at once from the first instant of a cold window, ten times what
/// its cap allows (and, warm, already through the minute before, so the window turns with every member sending);
/// a requests-per-minute cap and (up to N = 100) a daily budget. Also the tenant sending to one member only, to
/// show what the pacing costs a tenant whose traffic is not spread. Then real processes (<see cref="RealAsync"/>).
/// </summary>
internal static class QuotaBenchmark
{
    /// <summary>The rows a run may be limited to (a thousand members take 20 minutes a row here: rows run side by side as processes).</summary>
    private static readonly string[] RowNames = ["cold", "warm", "one"];

    public static int Run(string[] args)
    {
        // --spread SECONDS: the gates' gossip.usage_spread instead of the LAN preset's 2 s.
        var spreadAt = Array.IndexOf(args, "--spread");
        TimeSpan? spread = null;
        if (spreadAt >= 0)
        {
            if (spreadAt + 1 >= args.Length || !double.TryParse(args[spreadAt + 1], CultureInfo.InvariantCulture, out var seconds) || seconds <= 0)
            {
                Console.Error.WriteLine("quotas: --spread takes a number of seconds greater than 0");
                return 2;
            }

            spread = TimeSpan.FromSeconds(seconds);
            args = [.. args[..spreadAt], .. args[(spreadAt + 2)..]];
        }

        var rows = args.Where(a => RowNames.Contains(a, StringComparer.Ordinal)).ToHashSet(StringComparer.Ordinal);
        var numbers = args.Where(a => !rows.Contains(a)).ToArray();
        if (numbers.FirstOrDefault(a => !int.TryParse(a, CultureInfo.InvariantCulture, out var n) || n < 2) is { } bad)
        {
            Console.Error.WriteLine($"quotas: '{bad}' is neither a pool size (2 or more) nor a row ({string.Join(", ", RowNames)})");
            return 2;
        }

        var sizes = numbers.Length > 0 ? numbers.Select(a => int.Parse(a, CultureInfo.InvariantCulture)).ToArray() : [10, 100, 1000];
        Console.WriteLine($"Quotas across the mesh, simulated (LAN preset: gossip 200 ms to 3; spread {(spread ?? TimeSpan.FromSeconds(2)).TotalSeconds:0.###} s; usage published on change once per gossip interval; 400 ms per request)");
        Console.WriteLine();
        Console.WriteLine($"{"N",6} {"limit",9} {"senders",10} {"cap",6} {"offered",8} {"admitted",9} {"over cap",9} {"cap reached",12} {"wall",6}");
        var worst = 0.0;
        foreach (var n in sizes)
        {
            // A thousand members take minutes of wall time a run: the budget (paced in requests the same way) up to a hundred.
            var runs = new List<(string Limit, int? Senders, bool Warm)> { ("requests", null, false), ("requests", null, true), ("requests", 1, false) };
            if (n <= 100)
            {
                runs.AddRange([("budget", null, false), ("budget", 1, false)]);
            }

            foreach (var (limit, senders, warm) in runs.Where(r => rows.Count == 0 || rows.Contains(r.Senders is not null ? "one" : r.Warm ? "warm" : "cold")))
            {
                const long cap = 600;
                var wall = Stopwatch.StartNew();
                var outcome = QuotaSimulation.Run(n, limit, cap, offeredPerSecond: cap * 10 / 60.0, seed: n, senders, warm, spread);
                if (senders is null)
                {
                    worst = Math.Max(worst, outcome.OverCap);
                }

                var who = (senders is null ? "all" : senders.Value.ToString(CultureInfo.InvariantCulture)) + (warm ? ", warm" : "");
                Console.WriteLine($"{n,6} {limit,9} {who,10} {cap,6} {outcome.Offered,8} {outcome.Admitted,9} {outcome.OverCap,9:+0.0%;-0.0%} {(outcome.CapReachedSeconds is { } s ? $"{s:0.0} s" : "never"),12} {wall.Elapsed.TotalSeconds,5:0}s");
                Findings.Add("quotas, simulated", $"N = {n}, {limit} cap {cap}, {(senders is null ? "every member sending" : "one member sending")}{(warm ? " (already in the minute before)" : "")}{(spread is { } given ? $", spread {given.TotalSeconds:0.###} s" : "")}: admitted over cap",
                    $"{outcome.OverCap:+0.0%;-0.0%}", target: senders is null ? "<= +5%" : "", met: senders is null ? outcome.OverCap <= 0.05 : null);
            }
        }

        Console.WriteLine();
        Console.WriteLine($"Worst over cap with every member sending: {worst:+0.0%;-0.0%}");
        return 0;
    }

    /// <summary>
    /// Real processes: pool a (a1, a2, a3) and pool b (b1, b2) joined by integrator i1, local gossip preset; a tenant
    /// with a low cap sends from every node at once, four clients per node, each honouring the pushback of a paced
    /// refusal, until every node refuses it as over its cap. Two caps, each on a fresh mesh: 120 requests per
    /// minute (started at the first second of a minute) and a daily budget of $2, where each request costs what
    /// its random length (1 to 32 tokens) makes it, so the mean a member paces by is only an estimate.
    /// </summary>
    public static async Task<int> RealAsync()
    {
        Console.WriteLine("Quotas across the mesh, real processes: 5 nodes in two pools and an integrator, 4 clients per node sending at once");
        Console.WriteLine();
        Console.WriteLine($"{"limit",-22} {"cap",8} {"admitted",9} {"over cap",9} {"refused (paced)",16} {"last node refused after",24}");
        foreach (var (limit, setting) in new[] { ("requests_per_minute", "requests_per_minute: 120"), ("budget_per_day_usd", "budget_per_day_usd: 2") })
        {
            var outcome = await RealRoundAsync(setting, limit == "requests_per_minute");
            var cap = limit == "requests_per_minute" ? 120m : 2m;
            var admitted = limit == "requests_per_minute" ? outcome.Requests : outcome.Spent;
            var over = (double)((admitted - cap) / cap);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{limit,-22} {cap,8} {admitted,9:0.####} {over,9:+0.0%;-0.0%} {outcome.Paced,16} {outcome.Elapsed.TotalSeconds,23:0.0}s"));
            Findings.Add("quotas, 5 processes + integrator", $"{limit} {cap}, every node of both pools sending: admitted over cap", $"{over:+0.0%;-0.0%}",
                target: "<= +5%", met: over <= 0.05);
        }

        return 0;
    }

    private sealed record RealOutcome(long Requests, decimal Spent, long Paced, TimeSpan Elapsed);

    private static async Task<RealOutcome> RealRoundAsync(string limit, bool perMinute)
    {
        const double pricePerMillion = 1000;
        var directory = Directory.CreateTempSubdirectory("llmrouter-bench-quotas-");
        var processes = new List<ChildProcess>();
        var channels = new Dictionary<string, GrpcChannel>();
        try
        {
            var nodes = new[] { ("a1", "a"), ("a2", "a"), ("a3", "a"), ("b1", "b"), ("b2", "b") }.Select(n => (Id: n.Item1, Pool: n.Item2, Port: BenchMesh.FreePort())).ToList();
            string Pool(string pool) => $"""
                  - name: {pool}
                    nodes:
                {string.Join("\n", nodes.Where(n => n.Pool == pool).Select(n => $"      - id: {n.Id}\n        listen: https://127.0.0.1:{n.Port}\n        backends:\n          - {{ id: sim-{n.Id}, kind: simulated, max_concurrency: 64, max_queue: 256, simulated: {{ time_to_first_token: 0ms, tokens_per_second: 0 }}, models: [ {{ id: model-{pool}, price: {{ input_per_million: {pricePerMillion}, output_per_million: {pricePerMillion} }} }} ] }}"))}
                """;
            var (path, _, store) = await BenchMesh.CreateAsync(directory, $$"""
                pools:
                {{Pool("a")}}
                {{Pool("b")}}
                integrators:
                  - id: i1
                    pools:
                      - { pool: a, listen: https://127.0.0.1:{{BenchMesh.FreePort()}} }
                      - { pool: b, listen: https://127.0.0.1:{{BenchMesh.FreePort()}} }
                """, tenants: $$"""
                tenants:
                  - name: everyone
                    clients: [client]
                    limits: { {{limit}} }
                """);
            foreach (var node in nodes)
            {
                processes.Add(ChildProcess.StartNode(path, node.Id));
                channels[node.Id] = BenchMesh.ClientChannel(store, node.Port);
            }

            processes.Add(ChildProcess.Start("llm-router-integrator.dll", null, "run", "--config", path, "--integrator", "i1"));
            await ConvergedAsync(channels, processes);
            if (perMinute)
            {
                // The minute's window from its first second: the whole run within one window.
                var now = TimeProvider.System.GetUtcNow();
                await Task.Delay(TimeSpan.FromSeconds(60 - now.Second) - TimeSpan.FromMilliseconds(now.Millisecond));
            }

            var clock = Stopwatch.StartNew();
            var results = await Task.WhenAll(nodes.SelectMany(node => Enumerable.Range(0, 4).Select(client =>
                HammerAsync(new Router.RouterClient(channels[node.Id]), $"model-{node.Pool}", pricePerMillion, new Random((node.Port * 7) + client)))));
            return new RealOutcome(results.Sum(r => r.Requests), results.Sum(r => r.Spent), results.Sum(r => r.Paced), clock.Elapsed);
        }
        finally
        {
            foreach (var channel in channels.Values)
            {
                channel.Dispose();
            }

            foreach (var process in processes)
            {
                await process.DisposeAsync();
            }

            directory.Delete(recursive: true);
        }
    }

    /// <summary>Sends requests of random length until the node refuses the tenant as over its cap; a paced refusal is retried after its pushback.</summary>
    private static async Task<RealOutcome> HammerAsync(Router.RouterClient router, string model, double pricePerMillion, Random random)
    {
        long requests = 0, paced = 0;
        decimal spent = 0;
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(50));
        while (!bound.IsCancellationRequested)
        {
            var request = new ChatRequest { Model = model, Sampling = new SamplingParameters { MaxTokens = (uint)random.Next(1, 33) } };
            request.Messages.Add(new ChatMessage { Role = Role.User, Content = "hello" });
            try
            {
                using var call = router.Chat(request, deadline: TimeProvider.System.GetUtcNow().UtcDateTime.AddSeconds(30));
                var usage = new TokenUsage();
                await foreach (var frame in call.ResponseStream.ReadAllAsync())
                {
                    usage = frame.Completed?.Usage ?? usage;
                }

                requests++;
                spent += (usage.InputTokens + usage.OutputTokens) * (decimal)pricePerMillion / 1_000_000m;
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.ResourceExhausted && !ex.Status.Detail.Contains(" near its ", StringComparison.Ordinal)
                                          && !ex.Status.Detail.Contains("none of its requests has used anything", StringComparison.Ordinal))
            {
                break;
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.ResourceExhausted)
            {
                paced++;
                var pushback = long.Parse(ex.Trailers.GetValue("grpc-retry-pushback-ms") ?? "100", CultureInfo.InvariantCulture);
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(pushback, 250)));
            }
        }

        return new RealOutcome(requests, spent, paced, TimeSpan.Zero);
    }

    /// <summary>Waits until every node lists every member of its pool alive (four in pool a, three in pool b, the integrator included).</summary>
    private static async Task ConvergedAsync(Dictionary<string, GrpcChannel> channels, List<ChildProcess> processes)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var converged = true;
            foreach (var (id, channel) in channels)
            {
                try
                {
                    var members = await new Admin.AdminClient(channel).ListMembersAsync(new ListMembersRequest(), deadline: TimeProvider.System.GetUtcNow().UtcDateTime.AddSeconds(5));
                    converged &= members.Members.Count(m => m.Status == MemberStatus.Alive) == (id.StartsWith('a') ? 4 : 3);
                }
                catch (RpcException)
                {
                    converged = false;
                }
            }

            if (converged)
            {
                return;
            }

            if (clock.Elapsed > TimeSpan.FromSeconds(90))
            {
                throw new TimeoutException($"the mesh did not converge in 90 s\n{string.Join("\n", processes.Select(p => p.Output))}");
            }

            await Task.Delay(200);
        }
    }
}
