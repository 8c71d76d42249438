using System.Diagnostics;
using Grpc.Core;
using Grpc.Net.Client;
using LlmRouter.Common.Configuration;
using LlmRouter.Common.Identity;
using LlmRouter.V1;

namespace LlmRouter.Benchmarks;

/// <summary>
/// How many paced streams one node holds (issue 6, items 3 and 5), the way public gateways publish their
/// capacity: every stream is 64 deltas 20 ms apart (a fast model's pace); concurrency is raised level by
/// level until a stream stalls (a wait for the next delta over 200 ms beyond the pace) or 0.1% of streams
/// fail. The node and the bare echo reference are separate processes, measured alike: the same load
/// driver, connections, mutual TLS and pace. Also their resident memory idle and with 1000 open streams.
/// </summary>
internal static class CapacityBenchmark
{
    private const int Deltas = 64;
    private static readonly TimeSpan Pace = TimeSpan.FromMilliseconds(20);
    private static readonly TimeSpan StallBound = TimeSpan.FromMilliseconds(200);
    private const double ErrorBound = 0.001;
    private static readonly int[] Levels = [250, 500, 1000, 1500, 2000, 2500, 3000, 4000, 5000, 6000];
    private static readonly TimeSpan LevelDuration = TimeSpan.FromSeconds(6);

    // Streams per client connection: many internal services, each with its own connection, call a node.
    private const int StreamsPerConnection = 250;
    private const int OpenStreams = 1000;

    public static async Task<int> RunAsync()
    {
        var directory = Directory.CreateTempSubdirectory("llmrouter-bench-capacity-");
        try
        {
            var (nodePort, echoPort) = (BenchMesh.FreePort(), BenchMesh.FreePort());
            var (path, mesh, store) = await BenchMesh.CreateAsync(directory, Pools(nodePort));

            // The server under test gets the last core to itself, the load driver (this process) the others.
            var serverCore = Environment.ProcessorCount - 1;
            var pinned = serverCore > 0 && OperatingSystem.IsLinux() && File.Exists("/usr/bin/taskset");
            if (pinned && OperatingSystem.IsLinux())
            {
                Process.GetCurrentProcess().ProcessorAffinity = (1 << serverCore) - 1;
            }

            await using var echo = ChildProcess.Start("llmrouter-bench.dll", pinned ? serverCore : null, "serve-echo", mesh.CertificatesDirectory, "n", echoPort.ToString(System.Globalization.CultureInfo.InvariantCulture));
            await using var node = ChildProcess.StartNode(path, "n", pinned ? serverCore : null);
            Target[] targets =
            [
                new("bare gRPC echo (reference)", echo, Channels(store, echoPort), "paced", "held", Paced: true),
                new("llm-router-node", node, Channels(store, nodePort), "paced", "held", Paced: false),
            ];
            foreach (var target in targets)
            {
                await WarmUpAsync(target);
            }

            Console.WriteLine($"Paced streams ({Deltas} deltas, {Pace.TotalMilliseconds:0} ms apart), mutual TLS on loopback, {StreamsPerConnection} streams per client connection; " +
                (pinned ? $"the server on core {serverCore} alone, the load driver on the other {serverCore}" : $"server and load driver sharing {Environment.ProcessorCount} cores"));
            Console.WriteLine();
            await Task.Delay(TimeSpan.FromSeconds(2));
            var idle = targets.Select(t => t.Process.ResidentMiB()).ToArray();
            var open = new double[targets.Length];
            for (var i = 0; i < targets.Length; i++)
            {
                open[i] = await ResidentWithOpenStreamsAsync(targets[i]);
            }

            Console.WriteLine($"{"memory (resident)",-28} {"idle MiB",9} {$"{OpenStreams} streams MiB",17} {"KiB per stream",15}");
            for (var i = 0; i < targets.Length; i++)
            {
                Console.WriteLine($"{targets[i].Name,-28} {idle[i],9:0.0} {open[i],17:0.0} {(open[i] - idle[i]) * 1024 / OpenStreams,15:0.0}");
            }

            Console.WriteLine();
            var held = new int[targets.Length];
            for (var i = 0; i < targets.Length; i++)
            {
                Console.WriteLine(targets[i].Name);
                Console.WriteLine($"  {"streams",8} {"completed",10} {"errors",7} {"gap p50",8} {"gap p99",8} {"worst wait",11} {"server CPU",11} {"driver CPU",11}");
                foreach (var level in Levels)
                {
                    var result = await RunLevelAsync(targets[i], level);
                    Console.WriteLine($"  {level,8} {result.Completed,10} {result.Errors,7} {result.GapP50,8:0.0} {result.GapP99,8:0.0} {result.WorstWait,11:0.0} {result.CpuCores,10:0.00}c {result.DriverCores,10:0.00}c{(result.Held ? "" : "  <- " + result.Why)}");
                    if (!result.Held)
                    {
                        break;
                    }

                    held[i] = level;
                }

                Console.WriteLine();
            }

            Console.WriteLine($"most paced streams held without a stall over {StallBound.TotalMilliseconds:0} ms or {ErrorBound:0.0%} errors: " +
                string.Join(", ", targets.Select((t, i) => $"{t.Name} {held[i]}")) + $" (ratio {(held[0] > 0 ? (double)held[1] / held[0] : 0):0.00}); target: >= 2000 on one node");
            Findings.Add("capacity", $"paced streams held on one node (no wait > {StallBound.TotalMilliseconds:0} ms, < {ErrorBound:0.0%} errors)", $"{held[1]} ({(held[0] > 0 ? (double)held[1] / held[0] : 0):0.00}x)", $"echo {held[0]}", ">= 2000", held[1] >= 2000);
            Findings.Add("memory", "resident, idle", $"{idle[1]:0} MiB", $"echo {idle[0]:0} MiB");
            Findings.Add("memory", $"resident, {OpenStreams} open streams", $"{open[1]:0} MiB ({(open[1] - idle[1]) * 1024 / OpenStreams:0} KiB per stream)", $"echo {open[0]:0} MiB ({(open[0] - idle[0]) * 1024 / OpenStreams:0} KiB per stream)");
            Console.WriteLine($"ms; the worst wait is the longest time a stream waited for a delta beyond the pace; server and driver CPU are each process's CPU time per second of the level (1.00c is one core busy)");
            foreach (var target in targets)
            {
                foreach (var channel in target.Channels)
                {
                    channel.Dispose();
                }
            }

            return 0;
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    private sealed record Target(string Name, ChildProcess Process, GrpcChannel[] Channels, string PacedModel, string HeldModel, bool Paced)
    {
        public Router.RouterClient Client(int index) => new(Channels[index / StreamsPerConnection % Channels.Length]);

        /// <summary>The echo paces on request headers; the node's simulated backend paces by its configuration.</summary>
        public Metadata Headers(TimeSpan pace) => Paced
            ? new Metadata { { EchoServer.FirstHeader, Pace.TotalMilliseconds.ToString("0", System.Globalization.CultureInfo.InvariantCulture) }, { EchoServer.PaceHeader, pace.TotalMilliseconds.ToString("0", System.Globalization.CultureInfo.InvariantCulture) } }
            : [];
    }

    private sealed record LevelResult(int Completed, int Errors, double GapP50, double GapP99, double WorstWait, double CpuCores, double DriverCores, bool Held, string Why);

    private static GrpcChannel[] Channels(CertificateStore store, int port) =>
        Enumerable.Range(0, Levels[^1] / StreamsPerConnection)
            .Select(_ => BenchMesh.ClientChannel(store, port))
            .ToArray();

    /// <summary>Until the server answers, then a few streams on every connection (handshakes, JIT) before anything is measured.</summary>
    private static async Task WarmUpAsync(Target target)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                await StreamAsync(target.Client(0), target, target.PacedModel, Pace, CancellationToken.None);
                break;
            }
            catch (RpcException) when (clock.Elapsed < TimeSpan.FromSeconds(60) && !target.Process.HasExited)
            {
                await Task.Delay(200);
            }
            catch (RpcException ex)
            {
                throw new InvalidOperationException($"{target.Name} never answered: {ex.Status.Detail}\n{target.Process.Output}");
            }
        }

        await Task.WhenAll(Enumerable.Range(0, target.Channels.Length * 4).Select(i =>
            StreamAsync(target.Client(i * StreamsPerConnection / 4), target, target.PacedModel, Pace, CancellationToken.None)));
    }

    /// <summary>Opens <see cref="OpenStreams"/> slow streams (a delta every 500 ms), reads the server's resident memory once all are flowing.</summary>
    private static async Task<double> ResidentWithOpenStreamsAsync(Target target)
    {
        using var stop = new CancellationTokenSource();
        var flowing = 0;
        var all = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var streams = Enumerable.Range(0, OpenStreams).Select(async i =>
        {
            try
            {
                using var call = target.Client(i).Chat(Request(target.HeldModel), target.Headers(TimeSpan.FromMilliseconds(500)), cancellationToken: stop.Token);
                var first = true;
                await foreach (var frame in call.ResponseStream.ReadAllAsync(stop.Token))
                {
                    if (first && frame.FrameCase == ChatResponse.FrameOneofCase.Delta)
                    {
                        first = false;
                        if (Interlocked.Increment(ref flowing) == OpenStreams)
                        {
                            all.TrySetResult();
                        }
                    }
                }
            }
            catch (Exception ex) when (ex is RpcException or OperationCanceledException)
            {
                // Cancelled after the reading, as intended.
            }
        }).ToList();
        var ready = await Task.WhenAny(all.Task, Task.Delay(TimeSpan.FromSeconds(60)));
        if (ready != all.Task)
        {
            throw new TimeoutException($"{target.Name}: only {flowing} of {OpenStreams} streams flowing after 60 s");
        }

        await Task.Delay(TimeSpan.FromSeconds(1));
        var resident = target.Process.ResidentMiB();
        await stop.CancelAsync();
        await Task.WhenAll(streams);
        await Task.Delay(TimeSpan.FromSeconds(2));
        return resident;
    }

    private static async Task<LevelResult> RunLevelAsync(Target target, int level)
    {
        var gaps = new List<double>[level];
        var worst = new double[level];
        var completed = 0;
        var errors = 0;
        string? firstError = null;
        var cpuBefore = target.Process.CpuTime();
        var driverBefore = Process.GetCurrentProcess().TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        var cycle = Pace * (Deltas + 1);
        await Task.WhenAll(Enumerable.Range(0, level).Select(async worker =>
        {
            gaps[worker] = new List<double>(Deltas * 8);
            // Starts spread evenly over one stream's length, so the level is a steady load rather than a burst.
            await Task.Delay(cycle * worker / level);
            while (clock.Elapsed < LevelDuration)
            {
                using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                try
                {
                    var wait = await StreamAsync(target.Client(worker), target, target.PacedModel, Pace, deadline.Token, gaps[worker]);
                    worst[worker] = Math.Max(worst[worker], wait);
                    Interlocked.Increment(ref completed);
                }
                catch (Exception ex) when (ex is RpcException or OperationCanceledException or IOException)
                {
                    Interlocked.Increment(ref errors);
                    Interlocked.CompareExchange(ref firstError, ex.Message, null);
                }
            }
        }));
        var cores = (target.Process.CpuTime() - cpuBefore) / clock.Elapsed;
        var driverCores = (Process.GetCurrentProcess().TotalProcessorTime - driverBefore) / clock.Elapsed;
        var all = gaps.SelectMany(g => g).Order().ToList();
        var worstWait = worst.Max();
        var errorRate = (double)errors / Math.Max(1, completed + errors);
        var why = errorRate > ErrorBound ? $"{errors} errors ({errorRate:0.00%}): {firstError}" : worstWait > StallBound.TotalMilliseconds ? $"a stream waited {worstWait:0} ms" : "";
        await Task.Delay(TimeSpan.FromSeconds(2));
        return new LevelResult(completed, errors, BenchMesh.Percentile(all, 0.5), BenchMesh.Percentile(all, 0.99), worstWait, cores, driverCores, why.Length == 0, why);
    }

    /// <summary>One paced stream; returns the longest wait for a delta beyond the pace (the first: beyond its due time).</summary>
    private static async Task<double> StreamAsync(Router.RouterClient client, Target target, string model, TimeSpan pace, CancellationToken cancellationToken, List<double>? gaps = null)
    {
        using var call = client.Chat(Request(model), target.Headers(pace), cancellationToken: cancellationToken);
        var started = Stopwatch.GetTimestamp();
        var last = 0L;
        var worst = 0.0;
        var deltas = 0;
        await foreach (var frame in call.ResponseStream.ReadAllAsync(cancellationToken))
        {
            if (frame.FrameCase != ChatResponse.FrameOneofCase.Delta)
            {
                continue;
            }

            var now = Stopwatch.GetTimestamp();
            var gap = Stopwatch.GetElapsedTime(last == 0 ? started : last, now).TotalMilliseconds;
            gaps?.Add(gap);
            worst = Math.Max(worst, gap - Pace.TotalMilliseconds);
            last = now;
            deltas++;
        }

        return deltas == Deltas ? worst : throw new IOException($"{deltas} of {Deltas} deltas");
    }

    private static ChatRequest Request(string model)
    {
        var request = new ChatRequest { Model = model, Sampling = new SamplingParameters { MaxTokens = Deltas } };
        request.Messages.Add(new ChatMessage { Role = Role.User, Content = "benchmark" });
        return request;
    }

    private static string Pools(int port) => $$"""
        pools:
          - name: pool
            nodes:
              - id: n
                listen: https://127.0.0.1:{{port}}
                backends:
                  - id: sim
                    kind: simulated
                    max_concurrency: 20000
                    max_queue: 20000
                    simulated: { time_to_first_token: 20ms, tokens_per_second: 50, answer_tokens: 64 }
                    models: [ { id: paced } ]
                  - id: slow
                    kind: simulated
                    max_concurrency: 20000
                    max_queue: 20000
                    simulated: { time_to_first_token: 20ms, tokens_per_second: 2, answer_tokens: 64 }
                    models: [ { id: held } ]
        """;
}
