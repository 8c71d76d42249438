using System.Diagnostics;
using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace LlmRouter.Benchmarks;

/// <summary>
/// What observability costs the node, in one run (issue 12): the same node process, in front of the same
/// mock, with nothing exported; with its Prometheus endpoint scraped every second; with that and requests
/// traced over OTLP (to a collector that takes and drops, in this process), as the defaults trace them (every
/// request, at most 10 a second) and every request without a limit (what each traced request costs; no target);
/// and with nothing exported but logging at Debug (a line per attempt and outcome). Measured as the peer benchmark measures
/// (whole answers at concurrency 1, rounds interleaved; then throughput at 16 concurrent requests on the
/// node's one core), and reported against the node's own cost (its added latency over the mock alone).
/// </summary>
internal static partial class PeerBenchmark
{
    // Short windows, many passes: a pass visits every target within 4.5 s, so a variant and the reference it is divided
    // by share the machine's state (on a shared host, the CPU an answer takes drifts by 10% and more over minutes), and
    // the median of 54 such ratios is not moved by a pass that a burst of the host's load fell in. (Until 2026-12-01,
    // 14 passes of 2 s: a variant was measured up to 12 s from a reference.) 54 passes, like 405 rounds, take each of
    // the nine targets (the mock and eight node processes) through every place in the rotation equally often.
    private static readonly TimeSpan ThroughputWindow = TimeSpan.FromSeconds(0.5);
    private const int ThroughputConcurrency = 16;
    private const int ThroughputPasses = 54;
    private static readonly TimeSpan ProfileWindow = TimeSpan.FromSeconds(10);

    // Rounds of whole answers at concurrency 1: 405, about a minute. The peer benchmark's 20 take 3 s right after
    // the warming, when the nodes' medians still move by more than the 5% read here: in 60 rounds a third process
    // with nothing exported, placed last, read +0.081 ms at p50 (a third of the node's own latency), and a variant
    // read +0.071 ms over the first half of a run and +0.010 over the second; in 400 the third process read within
    // 0.003 ms of the other two and each variant's halves within 0.005 ms of each other, rotated or shuffled.
    private const int LatencyRounds = 405;

    // The reference: the node with nothing exported, in two processes, the first and the last node started and warmed,
    // the variants between them, so whatever a process's place in that order does to it (with too few rounds the last
    // place read +0.08 ms at p50; with 405, later places still read up to 0.03 ms slower) it does to the reference's
    // mean as to every judged configuration's (below). What the second
    // differs by from the first (the control) is what two processes of one build and one configuration differ by
    // (code layout, JIT and GC decisions), the floor under which a variant's cost cannot be told from zero.
    private const string NothingExported = "node, nothing exported";

    // The configurations with a target run in two processes as well, judged on their mean: two processes of the default
    // tracing read +4.0% and +2.8% in CPU per answer in one run, and two of Prometheus +2.7% and +0.2% (run 14,
    // docs/benchmarks.md). Their places mirror each other around the middle, as the reference's do (first and last,
    // second and second to last, ...): in run 16 each configuration's later process read 0.02 to 0.03 ms slower at p50
    // than its earlier one, and mirrored places give every judged configuration the same mean place.
    private const string Prometheus = "node, Prometheus scraped every 1 s";
    private const string DefaultTracing = "node, Prometheus + traces as by default";

    /// <summary>The name of a configuration's second process.</summary>
    private static string Second(string configuration) => configuration + " (2nd process)";

    // Every request traced, without the default limit of max_traces_per_second: what tracing costs per request, which
    // the limit bounds. Reported without a target.
    private const string EveryRequestTraced = "node, Prometheus + every request traced (no limit)";

    /// <summary><c>llmrouter-bench telemetry</c>.</summary>
    public static async Task<int> TelemetryCostAsync()
    {
        var directory = Directory.CreateTempSubdirectory("llmrouter-bench-telemetry-");
        var (gateway, driver, pinned, gatewayCore) = Cores();

        var processes = new List<ChildProcess>();
        await using var collector = await StartCollectorAsync();
        using var scraping = new CancellationTokenSource();
        try
        {
            var mockPort = BenchMesh.FreePort();
            processes.Add(ChildProcess.Start("llmrouter-bench.dll", driver, "serve-openai-mock", mockPort.ToString(CultureInfo.InvariantCulture)));
            List<Target> targets = [new("mock alone (reference)", new Uri($"http://127.0.0.1:{mockPort}/"), [])];
            var scraped = new List<Uri>();
            foreach (var (name, metrics, traced, tracesPerSecond, debug) in new[]
            {
                (NothingExported, false, 0.0, "", false),
                (Prometheus, true, 0.0, "", false),
                (DefaultTracing, true, 1.0, "", false),
                (EveryRequestTraced, true, 1.0, "  max_traces_per_second: 0\n", false),
                ("node, logs at Debug", false, 0.0, "", true),
                (Second(DefaultTracing), true, 1.0, "", false),
                (Second(Prometheus), true, 0.0, "", false),
                (Second(NothingExported), false, 0.0, "", false),
            })
            {
                var (nodePort, ingressPort, metricsPort) = (BenchMesh.FreePort(), BenchMesh.FreePort(), BenchMesh.FreePort());
                var pools = NodePool(nodePort, ingressPort, mockPort);
                if (metrics)
                {
                    pools = pools.Replace("        http_listen:", $"        metrics_listen: http://127.0.0.1:{metricsPort}\n        http_listen:", StringComparison.Ordinal);
                    scraped.Add(new Uri($"http://127.0.0.1:{metricsPort}/metrics"));
                }

                var telemetry = traced > 0
                    ? $"telemetry:\n  trace_sample_ratio: {traced.ToString(CultureInfo.InvariantCulture)}\n{tracesPerSecond}  otlp:\n    endpoint: {collector.Endpoint}\n    protocol: http/protobuf\n    metrics: false\n"
                    : "";
                var (config, _, _) = await BenchMesh.CreateAsync(directory.CreateSubdirectory(targets.Count.ToString(CultureInfo.InvariantCulture)), telemetry + pools);
                processes.Add(ChildProcess.StartProfiled("llm-router-node.dll", gateway, ["run", "--config", config, "--node", "n", .. (debug ? new[] { "--log-level", "Debug" } : [])]));
                targets.Add(new(name, new Uri($"http://127.0.0.1:{ingressPort}/"), []));
            }

            using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = int.MaxValue, UseProxy = false }) { Timeout = TimeSpan.FromSeconds(60) };
            foreach (var target in targets)
            {
                await ReadyAsync(http, target);
            }

            var scraper = ScrapeAsync(http, scraped, scraping.Token);
            Console.WriteLine("The node with and without its telemetry, in front of one mock OpenAI server; " +
                (pinned ? $"each node on core {gatewayCore}, the mock, the load driver and the collector on core 0" : $"everything sharing {Environment.ProcessorCount} cores"));
            Console.WriteLine();
            var (latency, rounds) = await SequentialRounds(http, targets, stream: false, LatencyRounds);
            var throughput = await ThroughputAsync(http, targets, processes);
            var profiles = await ProfileAsync(http, targets, processes, directory);
            await scraping.CancelAsync();
            await scraper;

            Console.WriteLine($"{"whole answers",-40} {"p50",8} {"p99",8} {"added p50",10} {"added p99",10} {"answers/s",10} {"CPU us/answer",14}");
            for (var i = 0; i < targets.Count; i++)
            {
                Console.WriteLine($"{targets[i].Name,-40} {latency[i].P50,8:0.000} {latency[i].P99,8:0.000} {latency[i].P50 - latency[0].P50,10:+0.000;-0.000} {latency[i].P99 - latency[0].P99,10:+0.000;-0.000} {throughput.PerSecond(i),10:0} {throughput.Cpu(i),14:0.0}");
            }

            Console.WriteLine($"ms, of {LatencyRounds} rounds of {PerRound} answers a target; answers/s at {ThroughputConcurrency} concurrent requests and the CPU time the target's process used per answer, " +
                $"medians of {ThroughputPasses} passes of {ThroughputWindow.TotalSeconds:0.#} s each (after one warming pass), targets alternating; OTLP exports received: {collector.Exports}");
            ReportTelemetryCost(targets, rounds, throughput);
            if (profiles is not null)
            {
                ReportProfiles(targets, rounds, throughput, profiles);
            }

            return 0;
        }
        finally
        {
            await scraping.CancelAsync();
            foreach (var process in processes)
            {
                var pid = process.Id;
                await process.DisposeAsync();
                CpuProfile.DeleteMaps(pid);
            }

            directory.Delete(recursive: true);
        }
    }

    /// <summary>
    /// Each configuration's cost against the node with nothing exported, each read as the mean of its processes (two
    /// for the reference and for those with a target: two processes of one build and one configuration differ by up
    /// to 8% in CPU per answer, which one process would hand to every variant): of its own added latency at
    /// concurrency 1 (medians of per-round differences), and of its throughput (medians of per-pass ratios). The node
    /// is alone and busy on its core, so its throughput is one over its CPU time per answer; that time decides the
    /// target (the answers a second also move with the driver's, the mock's and the collector's share of the other
    /// core). The reference's second process is reported against its first: the spread under which a cost cannot be
    /// told from zero.
    /// </summary>
    /// <param name="rounds">Each round's median latency per target (<see cref="SequentialRounds"/>).</param>
    private static void ReportTelemetryCost(List<Target> targets, List<double[]> rounds, Throughput throughput)
    {
        var configurations = Enumerable.Range(1, targets.Count - 1)
            .GroupBy(i => targets[i].Name.Replace(Second(""), "", StringComparison.Ordinal), i => i)
            .Select(group => (Name: group.Key, Processes: group.ToArray()))
            .ToList();
        var reference = configurations.Single(c => c.Name == NothingExported).Processes;
        static double Mean(double[] values, int[] processes) => processes.Average(i => values[i]);
        var own = Throughput.Median(rounds.Select(round => Mean(round, reference) - round[0]));
        var referenceCpu = Throughput.Median(throughput.Passes.Select(p => Mean(p.Cpu, reference)));
        var referencePerSecond = Throughput.Median(throughput.Passes.Select(p => Mean(p.PerSecond, reference)));
        var (first, second) = References(targets);
        (double Added, double Cpu, double PerSecond) Cost(int[] processes, int[] against) => (
            Throughput.Median(rounds.Select(round => Mean(round, processes) - Mean(round, against))),
            Throughput.Median(throughput.Passes.Select(p => Mean(p.Cpu, processes) / Mean(p.Cpu, against))) - 1,
            Throughput.Median(throughput.Passes.Select(p => Mean(p.PerSecond, processes) / Mean(p.PerSecond, against))) - 1);
        string Figures((double Added, double Cpu, double PerSecond) cost, int[] processes) =>
            $"p50 {Signed(cost.Added, "0.000")} ms ({Signed(own > 0 ? cost.Added / own : 0, "0%")} of the node's own {own:0.000} ms); CPU per answer " +
            $"{Signed(cost.Cpu, "0.0%")} ({string.Join(" and ", processes.Select(i => $"{throughput.Cpu(i):0.0}"))} us), answers/s {Signed(cost.PerSecond, "0.0%")} measured";

        Findings.Add("telemetry", "two processes with nothing exported: the second against the first", Figures(Cost([second], [first]), [second]),
            $"nothing exported (mean of two processes): {referenceCpu:0.0} us per answer, {referencePerSecond:0} answers/s", "", null);
        foreach (var (configuration, processes) in configurations.Where(c => c.Name != NothingExported))
        {
            var cost = Cost(processes, reference);
            var judged = configuration is Prometheus or DefaultTracing;
            var each = processes.Length < 2 ? "" : " (" + string.Join(", ", processes.Select(i => Signed(Cost([i], reference).Cpu, "0.0%"))) + " in CPU per answer by process)";
            Findings.Add("telemetry", $"{configuration}: cost against nothing exported{(processes.Length > 1 ? $", mean of {processes.Length} processes" : "")}",
                Figures(cost, processes) + each,
                $"nothing exported (mean of two processes): {referenceCpu:0.0} us per answer, {referencePerSecond:0} answers/s",
                judged ? "<= 5% of own cost and of throughput" : "",
                judged ? (own > 0 ? cost.Added / own : 0) <= 0.05 && cost.Cpu <= 0.05 : null);
        }
    }

    /// <summary>The two targets with nothing exported, found by name (target 0 is the mock alone).</summary>
    private static (int First, int Second) References(List<Target> targets) =>
        (targets.FindIndex(t => t.Name == NothingExported), targets.FindIndex(t => t.Name == Second(NothingExported)));

    /// <summary>Every node target but the two references: the processes whose cost is read.</summary>
    private static IEnumerable<int> Variants(List<Target> targets)
    {
        var (first, second) = References(targets);
        return Enumerable.Range(1, targets.Count - 1).Where(i => i != first && i != second);
    }

    /// <summary>A figure with its sign, or none when it rounds to zero (a format's sections would print a negative one as "-+0.000").</summary>
    private static string Signed(double value, string format)
    {
        var magnitude = Math.Abs(value).ToString(format, CultureInfo.InvariantCulture);
        return magnitude.Trim('0', '.', '%').Length == 0 ? magnitude : (value < 0 ? "-" : "+") + magnitude;
    }

    /// <summary>
    /// Each node's CPU by whose work it was (<see cref="CpuProfile"/>), sampled for <see cref="ProfileWindow"/> while
    /// it alone answers <see cref="ThroughputConcurrency"/> concurrent requests; null (with a note) where perf cannot
    /// sample. The first entry (the mock) is not profiled.
    /// </summary>
    private static async Task<List<CpuProfile.Shares?>?> ProfileAsync(HttpClient http, List<Target> targets, List<ChildProcess> processes, DirectoryInfo directory)
    {
        if (await CpuProfile.UnavailableAsync() is { } why)
        {
            Console.WriteLine($"CPU profiles skipped: {why}");
            return null;
        }

        var profiles = new List<CpuProfile.Shares?> { null };
        foreach (var (target, process) in targets.Zip(processes).Skip(1))
        {
            using var load = new CancellationTokenSource();
            var driving = Task.WhenAll(Enumerable.Range(0, ThroughputConcurrency).Select(async _ =>
            {
                while (!load.IsCancellationRequested)
                {
                    await OnceAsync(http, target, stream: false);
                }
            }));
            profiles.Add(await CpuProfile.RecordAsync(process.Id, ProfileWindow, directory));
            await load.CancelAsync();
            await driving;
        }

        return profiles;
    }

    /// <summary>
    /// Where each variant's telemetry cost goes, read from its own profile: the frames it can name. It is a floor, not
    /// the verdict: a run on an idle machine measured Prometheus at +3.5% of the CPU in metrics frames and +8.6% of CPU
    /// per answer against the processes with nothing exported (whose control differed by 0.1%); what the frames do not
    /// show (collections of what telemetry allocated, caches, code inlined into ours) is the rest. With nothing
    /// exported a node still spends some of its CPU in trace frames: every request's trace context is carried
    /// (ASP.NET Core's activity from the caller's traceparent, HttpClient's into each forward and backend call), for
    /// the trace id a route reports and logs carry.
    /// That is the reference, the mean of the two processes with nothing exported; a variant's share is its CPU in
    /// metrics and trace frames beyond it, and that share of the CPU time per answer against the node's own added
    /// latency at concurrency 1. Logging's share is shown beside them.
    /// </summary>
    private static void ReportProfiles(List<Target> targets, List<double[]> rounds, Throughput throughput, List<CpuProfile.Shares?> profiles)
    {
        var (first, second) = References(targets);
        var telemetryWork = new[] { CpuProfile.Work.Metrics, CpuProfile.Work.Traces };
        var own = Throughput.Median(rounds.Select(round => ((round[first] + round[second]) / 2) - round[0])) * 1000;
        if (profiles[first] is not { } one || profiles[second] is not { } two)
        {
            return;
        }

        var reference = (one.Share(telemetryWork) + two.Share(telemetryWork)) / 2;
        var referenceError = Math.Sqrt((one.Error(telemetryWork) * one.Error(telemetryWork)) + (two.Error(telemetryWork) * two.Error(telemetryWork))) / 2;
        Console.WriteLine();
        Console.WriteLine($"{"CPU by whose work it was",-40} {"samples",8} {"router",7} {"framework",10} {"metrics",8} {"traces",7} {"logging",8} {"telemetry",10} {"added",16} {"us/answer",10}");
        for (var i = first; i < targets.Count; i++)
        {
            if (profiles[i] is not { } shares)
            {
                continue;
            }

            var telemetry = shares.Share(telemetryWork);
            var added = telemetry - reference;
            var error = Math.Sqrt((shares.Error(telemetryWork) * shares.Error(telemetryWork)) + (referenceError * referenceError));
            var perAnswer = added * throughput.Cpu(i);
            Console.WriteLine($"{targets[i].Name,-40} {shares.Total,8} {shares.Share(CpuProfile.Work.Router),7:0.0%} {shares.Share(CpuProfile.Work.Framework),10:0.0%} " +
                $"{shares.Share(CpuProfile.Work.Metrics),8:0.0%} {shares.Share(CpuProfile.Work.Traces),7:0.0%} {shares.Share(CpuProfile.Work.Logging),8:0.0%} {telemetry,10:0.0%} {$"{added:+0.0%;-0.0%;0.0%} ± {error:0.0%}",16} {perAnswer,10:+0.0;-0.0;0.0}");
            var logging = targets[i].Name.Contains("logs", StringComparison.Ordinal);
            Findings.Add("telemetry, profiled", logging
                    ? $"{targets[i].Name}: share of the node's CPU in logging frames"
                    : $"{targets[i].Name}: share of the node's CPU in metrics and trace frames beyond the reference",
                logging ? $"{shares.Share(CpuProfile.Work.Logging):0.0%}" : $"{added:+0.0%;-0.0%;0.0%} ± {error:0.0%} ({perAnswer:+0.0;-0.0;0.0} us an answer: {perAnswer / own:+0.0%;-0.0%;0.0%} of the node's own {own:0} us at concurrency 1)",
                $"nothing exported: {reference:0.0%} (carrying trace context); {shares.Total} samples");
        }

        Console.WriteLine();
        Console.WriteLine("where each node's metrics, traces and logging went (the frames that decided the most samples, as shares of all its samples):");
        for (var i = first; i < targets.Count; i++)
        {
            if (profiles[i] is { } shares)
            {
                Console.WriteLine($"  {targets[i].Name}:");
                foreach (var work in new[] { CpuProfile.Work.Metrics, CpuProfile.Work.Traces, CpuProfile.Work.Logging })
                {
                    Console.WriteLine($"    {work,-8} " + string.Join("; ", shares.Top(work, 4).Select(t => $"{t.Frame} {t.Share:0.0%}")));
                }
            }
        }

        Console.WriteLine("the frames samples were taken in (leaves) that grew the most beyond the reference, as shares of all samples:");
        var leaves = one.Leaves.Keys.Union(two.Leaves.Keys).ToList();
        foreach (var i in Variants(targets))
        {
            if (profiles[i] is { } shares)
            {
                var grown = shares.Leaves.Keys.Union(leaves)
                    .Select(leaf => (Leaf: leaf, Added: shares.LeafShare(leaf) - ((one.LeafShare(leaf) + two.LeafShare(leaf)) / 2)))
                    .OrderByDescending(g => g.Added).Take(8);
                Console.WriteLine($"  {targets[i].Name}: " + string.Join("; ", grown.Select(g => $"{g.Leaf} {g.Added:+0.0%;-0.0%}")));
            }
        }

        Console.WriteLine($"share of each node's CPU samples ({ProfileWindow.TotalSeconds:0} s at {ThroughputConcurrency} concurrent requests, perf at 1 kHz with call stacks), by the first frame from the leaf " +
            "that says whose work it was; telemetry = metrics + traces; added = beyond the mean of the two processes with nothing exported, ± one standard deviation; " +
            "us/answer = that share of the CPU time per answer measured above");
    }

    /// <summary>
    /// Answers per second each target sustains at <see cref="ThroughputConcurrency"/>, and the CPU time (microseconds)
    /// its process used per answer, in passes that alternate between targets; the first pass warms every target and
    /// is not counted. Each pass's figures are kept, so a cost is read as the median of its per-pass ratios: a pass
    /// disturbed by something else on the machine moves one ratio, not the result.
    /// </summary>
    /// <param name="processes">Each target's process, in the targets' order.</param>
    private static async Task<Throughput> ThroughputAsync(HttpClient http, List<Target> targets, List<ChildProcess> processes)
    {
        var passes = new List<(double[] PerSecond, double[] Cpu)>();
        for (var pass = 0; pass <= ThroughputPasses; pass++)
        {
            var perSecond = new double[targets.Count];
            var cpu = new double[targets.Count];
            foreach (var t in Rotated(targets.Count, pass))
            {
                var target = targets[t];
                var cpuBefore = processes[t].CpuTime();
                var clock = Stopwatch.StartNew();
                var answered = 0;
                await Task.WhenAll(Enumerable.Range(0, ThroughputConcurrency).Select(async _ =>
                {
                    while (clock.Elapsed < ThroughputWindow)
                    {
                        await OnceAsync(http, target, stream: false);
                        Interlocked.Increment(ref answered);
                    }
                }));
                perSecond[t] = answered / clock.Elapsed.TotalSeconds;
                cpu[t] = (processes[t].CpuTime() - cpuBefore).TotalMicroseconds / Math.Max(1, answered);
            }

            if (pass > 0)
            {
                passes.Add((perSecond, cpu));
            }
        }

        return new Throughput(passes);
    }

    /// <summary>The counted passes of <see cref="ThroughputAsync"/>: per target, answers per second and CPU microseconds per answer.</summary>
    private sealed record Throughput(List<(double[] PerSecond, double[] Cpu)> Passes)
    {
        public double PerSecond(int target) => Median(Passes.Select(p => p.PerSecond[target]));

        public double Cpu(int target) => Median(Passes.Select(p => p.Cpu[target]));

        public static double Median(IEnumerable<double> values)
        {
            var sorted = values.Order().ToList();
            return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
        }
    }

    /// <summary>Reads every metrics endpoint once a second, as a Prometheus would, until cancelled.</summary>
    private static async Task ScrapeAsync(HttpClient http, List<Uri> endpoints, CancellationToken cancellationToken)
    {
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                foreach (var endpoint in endpoints)
                {
                    (await http.GetAsync(endpoint, cancellationToken)).EnsureSuccessStatusCode();
                }

                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Done.
        }
    }

    /// <summary>An OTLP/HTTP collector that takes every export of spans and drops it, counting the exports.</summary>
    private static async Task<Collector> StartCollectorAsync()
    {
        var port = BenchMesh.FreePort();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, port, endpoint => endpoint.Protocols = HttpProtocols.Http1));
        var app = builder.Build();
        var collector = new Collector(app, new Uri($"http://127.0.0.1:{port}"));
        app.MapPost("/v1/traces", async context =>
        {
            await context.Request.Body.CopyToAsync(Stream.Null);
            Interlocked.Increment(ref collector.Exports);
            context.Response.ContentType = "application/x-protobuf";
        });
        await app.StartAsync();
        return collector;
    }

    private sealed class Collector(WebApplication app, Uri endpoint) : IAsyncDisposable
    {
        public int Exports;

        public Uri Endpoint { get; } = endpoint;

        public async ValueTask DisposeAsync()
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }
}
