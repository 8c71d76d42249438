using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;

namespace LlmRouter.Benchmarks;

/// <summary>
/// Our HTTP ingress beside real peers, in the same run and in front of the same mock OpenAI server
/// (<see cref="OpenAIMock"/>), each as it ships, as its own process with its default settings and log
/// level: llm-router-node's ingress, the Portkey gateway (npm @portkey-ai/gateway 1.15.2, as public 2026
/// comparisons ran it) and nginx (Debian) as a bare HTTP reverse proxy; the mock alone is the reference,
/// and a bare .NET proxy (<see cref="DotNetProxy"/>) shows what the framework costs before our own work.
/// The Busbar method: added latency of a whole answer at concurrency 1 (p50, p99), added time to first
/// token of a stream at concurrency 1 (p50, p99), and the most paced streams (64 deltas, 20 ms apart)
/// held with no delta more than 200 ms late. The gateway under test has one core to itself; the mock and
/// this driver share the other.
/// </summary>
internal static partial class PeerBenchmark
{
    private const int Warmup = 300;

    // Every target runs at least this long before it is measured: .NET compiles its hot paths again with
    // what it saw (tiered compilation) over the first seconds of load, and a count of requests alone left
    // our node measured half-way (its first 2,500 requests took twice as long as the rest).
    private static readonly TimeSpan WarmupTime = TimeSpan.FromSeconds(5);
    private const int Rounds = 20;
    private const int PerRound = 50;
    private static readonly TimeSpan LateBound = TimeSpan.FromMilliseconds(200);
    private static readonly int[] Levels = [64, 128, 256, 512, 1024, 2048];

    /// <param name="parts">"http", "grpc", or both when empty; "http-latency": the HTTP latency figures alone, without the capacity levels (a quick look while profiling).</param>
    public static async Task<int> RunAsync(string[] parts)
    {
        var latencyOnly = parts.Contains("http-latency");
        var http = parts.Length == 0 || parts.Contains("http") || latencyOnly;
        var grpc = parts.Length == 0 || parts.Contains("grpc");
        var directory = Directory.CreateTempSubdirectory("llmrouter-bench-peers-");
        var (gateway, driver, pinned, gatewayCore) = Cores();

        var processes = new List<ChildProcess>();
        try
        {
            if (http)
            {
                await HttpAsync(directory, gateway, driver, processes, pinned, gatewayCore, capacity: !latencyOnly);
                Console.WriteLine();
            }

            if (grpc)
            {
                await GrpcHopAsync(directory, gateway, driver, processes);
            }

            return 0;
        }
        finally
        {
            foreach (var process in processes)
            {
                await process.DisposeAsync();
            }

            directory.Delete(recursive: true);
        }
    }

    /// <summary>
    /// The gateway under test gets the last core to itself; the mock, the load driver (this process, pinned
    /// here to the others) and everything else share the rest. Nothing is pinned without taskset or a second core.
    /// </summary>
    private static (int? Gateway, int? Driver, bool Pinned, int GatewayCore) Cores()
    {
        var gatewayCore = Environment.ProcessorCount - 1;
        var pinned = gatewayCore > 0 && OperatingSystem.IsLinux() && File.Exists("/usr/bin/taskset");
        if (pinned && OperatingSystem.IsLinux())
        {
            Process.GetCurrentProcess().ProcessorAffinity = (1 << gatewayCore) - 1;
        }

        return (pinned ? gatewayCore : null, pinned ? 0 : null, pinned, gatewayCore);
    }

    private static async Task HttpAsync(DirectoryInfo directory, int? gateway, int? driver, List<ChildProcess> processes, bool pinned, int gatewayCore, bool capacity)
    {
        var mockPort = BenchMesh.FreePort();
        processes.Add(ChildProcess.Start("llmrouter-bench.dll", driver, "serve-openai-mock", mockPort.ToString(CultureInfo.InvariantCulture)));
        var mock = new Uri($"http://127.0.0.1:{mockPort}/");
        List<Target> targets = [new("mock alone (reference)", mock, [])];

        var (nodePort, ingressPort) = (BenchMesh.FreePort(), BenchMesh.FreePort());
        var (config, _, _) = await BenchMesh.CreateAsync(directory, NodePool(nodePort, ingressPort, mockPort));
        processes.Add(ChildProcess.StartNode(config, "n", gateway));
        targets.Add(new("llm-router-node ingress", new Uri($"http://127.0.0.1:{ingressPort}/"), []));

        if (await PortkeyAsync(gateway, mockPort) is var (portkey, portkeyUrl, headers))
        {
            processes.Add(portkey);
            targets.Add(new("Portkey gateway 1.15.2", portkeyUrl, headers));
        }

        if (Nginx(directory, gateway, mockPort) is var (nginx, nginxUrl))
        {
            processes.Add(nginx);
            targets.Add(new("nginx reverse proxy", nginxUrl, []));
        }

        var proxyPort = BenchMesh.FreePort();
        processes.Add(ChildProcess.Start("llmrouter-bench.dll", gateway, "serve-dotnet-proxy", proxyPort.ToString(CultureInfo.InvariantCulture), mockPort.ToString(CultureInfo.InvariantCulture)));
        targets.Add(new("bare .NET proxy (floor)", new Uri($"http://127.0.0.1:{proxyPort}/"), []));

        using var http = new HttpClient(new SocketsHttpHandler
        {
            MaxConnectionsPerServer = int.MaxValue,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            UseProxy = false,
        })
        { Timeout = TimeSpan.FromSeconds(60) };
        foreach (var target in targets)
        {
            await ReadyAsync(http, target);
        }

        Console.WriteLine($"HTTP gateways in front of one mock OpenAI server, each its own process as it ships; " +
            (pinned ? $"the gateway on core {gatewayCore} alone, the mock and the load driver on core 0" : $"everything sharing {Environment.ProcessorCount} cores"));
        Console.WriteLine();

        var latency = await Sequential(http, targets, stream: false);
        var ttft = await Sequential(http, targets, stream: true);
        Console.WriteLine($"{"concurrency 1",-28} {"whole p50",10} {"p99",8} {"added p50",10} {"p99",8}   {"TTFT p50",9} {"p99",8} {"added p50",10} {"p99",8}");
        for (var i = 0; i < targets.Count; i++)
        {
            Console.WriteLine($"{targets[i].Name,-28} {latency[i].P50,10:0.000} {latency[i].P99,8:0.000} {latency[i].P50 - latency[0].P50,10:+0.000;-0.000} {latency[i].P99 - latency[0].P99,8:+0.000;-0.000}   " +
                $"{ttft[i].P50,9:0.000} {ttft[i].P99,8:0.000} {ttft[i].P50 - ttft[0].P50,10:+0.000;-0.000} {ttft[i].P99 - ttft[0].P99,8:+0.000;-0.000}");
        }

        Console.WriteLine("ms; a whole answer's latency and a stream's time to its first token, each target's requests interleaved with the others' in rounds");
        Console.WriteLine();
        if (!capacity)
        {
            return;
        }

        var held = new int[targets.Count];
        for (var i = 0; i < targets.Count; i++)
        {
            held[i] = await CapacityAsync(http, targets[i]);
        }

        Report(targets, latency, ttft, held);
    }

    private sealed record Target(string Name, Uri BaseUrl, IReadOnlyList<(string Name, string Value)> Headers);

    private readonly record struct Percentiles(double P50, double P99);

    private static string NodePool(int nodePort, int ingressPort, int mockPort) => $$"""
        pools:
          - name: pool
            nodes:
              - id: n
                listen: https://127.0.0.1:{{nodePort}}
                http_listen: http://127.0.0.1:{{ingressPort}}
                backends:
                  - id: mock
                    kind: openai-compatible
                    base_url: http://127.0.0.1:{{mockPort}}/v1/
                    max_concurrency: 100000
                    max_queue: 0
                    models:
                      - { id: fast, upstream_model: fast }
                      - { id: paced, upstream_model: {{OpenAIMock.PacedModel}} }
        """;

    /// <summary>The Portkey gateway from tests/LlmRouter.Benchmarks/peers (npm ci there on first use), bound to loopback; null when npm or node is missing.</summary>
    private static async Task<(ChildProcess Process, Uri Url, IReadOnlyList<(string, string)> Headers)?> PortkeyAsync(int? core, int mockPort)
    {
        var peers = Path.Combine(RepositoryRoot(), "tests", "LlmRouter.Benchmarks", "peers");
        if (!Directory.Exists(Path.Combine(peers, "node_modules")))
        {
            using var npm = Process.Start(new ProcessStartInfo("npm", ["ci", "--no-audit", "--no-fund", "--silent"]) { WorkingDirectory = peers });
            await npm!.WaitForExitAsync();
            if (npm.ExitCode != 0)
            {
                Console.WriteLine($"Portkey skipped: npm ci in {peers} failed");
                return null;
            }
        }

        var port = BenchMesh.FreePort();
        var process = ChildProcess.StartProgram("node", core, peers, "--import", "./loopback.mjs", "node_modules/@portkey-ai/gateway/build/start-server.js", $"--port={port}", "--headless");
        return (process, new Uri($"http://127.0.0.1:{port}/"), [("x-portkey-provider", "openai"), ("x-portkey-custom-host", $"http://127.0.0.1:{mockPort}/v1")]);
    }

    /// <summary>
    /// nginx as a bare reverse proxy with Debian's defaults but for two lines every proxy of streams needs:
    /// HTTP/1.1 with keep-alive to the upstream, and room for the connections of the capacity levels.
    /// </summary>
    private static (ChildProcess Process, Uri Url)? Nginx(DirectoryInfo directory, int? core, int mockPort)
    {
        var port = BenchMesh.FreePort();
        var process = StartNginx(directory, core, $$"""
            upstream mock { server 127.0.0.1:{{mockPort}}; keepalive 256; }
            server {
              listen 127.0.0.1:{{port}};
              location / {
                proxy_pass http://mock;
                proxy_http_version 1.1;
                proxy_set_header Connection "";
              }
            }
            """);
        return process is null ? null : (process, new Uri($"http://127.0.0.1:{port}/"));
    }

    /// <summary>
    /// Debian's nginx in a prefix of its own under <paramref name="directory"/>, with room for the capacity
    /// levels' connections and <paramref name="http"/> as its http block; null (with a note) when nginx is not installed.
    /// </summary>
    private static ChildProcess? StartNginx(DirectoryInfo directory, int? core, string http)
    {
        if (NginxProgram() is not { } nginx)
        {
            return null;
        }

        var prefix = Directory.CreateDirectory(Path.Combine(directory.FullName, "nginx")).FullName;
        var config = Path.Combine(prefix, "nginx.conf");
        File.WriteAllText(config, $$"""
            worker_processes auto;
            pid {{prefix}}/nginx.pid;
            error_log {{prefix}}/error.log;
            events { worker_connections 8192; }
            http {
              access_log {{prefix}}/access.log;
            {{http}}
            }
            """);
        return ChildProcess.StartProgram(nginx, core, prefix, "-p", prefix, "-c", config, "-g", "daemon off;");
    }

    /// <summary>Debian's nginx, or null (with a note) when it is not installed.</summary>
    private static string? NginxProgram()
    {
        var nginx = new[] { "/usr/sbin/nginx", "/usr/bin/nginx" }.FirstOrDefault(File.Exists);
        if (nginx is null)
        {
            Console.WriteLine("nginx skipped: not installed (apt-get install nginx)");
        }

        return nginx;
    }

    private static async Task ReadyAsync(HttpClient http, Target target)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                using var response = await SendAsync(http, target, stream: false, model: "fast");
                if (response.IsSuccessStatusCode)
                {
                    return;
                }

                if (clock.Elapsed > TimeSpan.FromSeconds(30))
                {
                    throw new InvalidOperationException($"{target.Name} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
                }
            }
            catch (HttpRequestException) when (clock.Elapsed < TimeSpan.FromSeconds(30))
            {
                // Not listening yet.
            }

            await Task.Delay(100);
        }
    }

    private static async Task<HttpResponseMessage> SendAsync(HttpClient http, Target target, bool stream, string model, CancellationToken cancellationToken = default)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(target.BaseUrl, "v1/chat/completions"))
        {
            Content = new StringContent(
                $$"""{"model":"{{model}}","stream":{{(stream ? "true" : "false")}},"max_tokens":8,"messages":[{"role":"user","content":"hello"}]}""",
                Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "sk-bench");
        foreach (var (name, value) in target.Headers)
        {
            request.Headers.Add(name, value);
        }

        return await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
    }

    /// <summary>Whole answers (or streams' first tokens) one at a time, each target's in rounds interleaved with the others'.</summary>
    private static async Task<Percentiles[]> Sequential(HttpClient http, List<Target> targets, bool stream) =>
        (await SequentialRounds(http, targets, stream)).Pooled;

    /// <summary>
    /// <see cref="Sequential"/>, with each round's median per target beside the pooled percentiles: a difference
    /// between targets read round by round does not move with what the machine did between rounds.
    /// </summary>
    /// <param name="rounds">How many rounds; <see cref="Rounds"/> unless a caller reads differences finer than the processes' first seconds after warming allow.</param>
    private static async Task<(Percentiles[] Pooled, List<double[]> RoundMedians)> SequentialRounds(HttpClient http, List<Target> targets, bool stream, int rounds = Rounds)
    {
        var samples = targets.Select(_ => new List<double>()).ToArray();
        var roundMedians = new List<double[]>();
        foreach (var target in targets)
        {
            var warming = Stopwatch.StartNew();
            for (var i = 0; i < Warmup || warming.Elapsed < WarmupTime; i++)
            {
                await OnceAsync(http, target, stream);
            }
        }

        for (var round = 0; round < rounds; round++)
        {
            var medians = new double[targets.Count];
            foreach (var t in Rotated(targets.Count, round))
            {
                var thisRound = new List<double>(PerRound);
                for (var i = 0; i < PerRound; i++)
                {
                    thisRound.Add(await OnceAsync(http, targets[t], stream));
                }

                samples[t].AddRange(thisRound);
                thisRound.Sort();
                medians[t] = BenchMesh.Percentile(thisRound, 0.5);
            }

            roundMedians.Add(medians);
        }

        return ([.. samples.Select(list =>
        {
            list.Sort();
            return new Percentiles(BenchMesh.Percentile(list, 0.5), BenchMesh.Percentile(list, 0.99));
        })], roundMedians);
    }

    /// <summary>
    /// The targets' indices in the order a round or pass visits them, each one starting one further on: a target's
    /// place in the order moves what it measures (a run that kept one order read identical processes 0.3 ms apart at
    /// p50 and 15% apart in CPU per answer by their places), so every target takes every place in turn.
    /// </summary>
    private static IEnumerable<int> Rotated(int count, int turn) => Enumerable.Range(0, count).Select(i => (i + turn) % count);

    /// <summary>Milliseconds to the whole answer, or to a stream's first token (the first chunk with text); the rest is read to the end.</summary>
    private static async Task<double> OnceAsync(HttpClient http, Target target, bool stream)
    {
        var started = Stopwatch.GetTimestamp();
        using var response = await SendAsync(http, target, stream, "fast");
        response.EnsureSuccessStatusCode();
        if (!stream)
        {
            await response.Content.ReadAsByteArrayAsync();
            return Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        }

        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        double? first = null;
        while (await reader.ReadLineAsync() is { } line)
        {
            if (first is null && Text().IsMatch(line))
            {
                first = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            }
        }

        return first ?? throw new InvalidOperationException($"{target.Name} streamed no text");
    }

    /// <summary>Raises the number of concurrent paced streams level by level until one is late or fails; returns the last level held.</summary>
    private static async Task<int> CapacityAsync(HttpClient http, Target target)
    {
        Console.WriteLine(target.Name);
        Console.WriteLine($"  {"streams",8} {"completed",10} {"errors",7} {"worst late",11}");
        var held = 0;
        foreach (var level in Levels)
        {
            var results = await Task.WhenAll(Enumerable.Range(0, level).Select(i => PacedStreamAsync(http, target, TimeSpan.FromMilliseconds(500.0 * i / level))));
            var completed = results.Count(r => r.Error is null);
            var worst = results.Where(r => r.Error is null).Select(r => r.WorstLateMs).DefaultIfEmpty(0).Max();
            var ok = completed == level && worst <= LateBound.TotalMilliseconds;
            var why = completed < level ? results.First(r => r.Error is not null).Error : $"a delta {worst:0} ms late";
            Console.WriteLine($"  {level,8} {completed,10} {level - completed,7} {worst,11:0.0}{(ok ? "" : "  <- " + why)}");
            if (!ok)
            {
                break;
            }

            held = level;
        }

        Console.WriteLine();
        return held;
    }

    private readonly record struct StreamResult(double WorstLateMs, string? Error);

    /// <summary>One paced stream: how late its worst delta was against the pace from its first one (its first token counts against the bound too).</summary>
    private static async Task<StreamResult> PacedStreamAsync(HttpClient http, Target target, TimeSpan delay)
    {
        await Task.Delay(delay);
        try
        {
            var started = Stopwatch.GetTimestamp();
            using var response = await SendAsync(http, target, stream: true, OpenAIMock.PacedModel);
            if (!response.IsSuccessStatusCode)
            {
                return new StreamResult(0, $"HTTP {(int)response.StatusCode}");
            }

            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            long firstAt = 0;
            var deltas = 0;
            var worst = 0.0;
            while (await reader.ReadLineAsync() is { } line)
            {
                if (!Text().IsMatch(line))
                {
                    continue;
                }

                var now = Stopwatch.GetTimestamp();
                if (deltas == 0)
                {
                    firstAt = now;
                    worst = Stopwatch.GetElapsedTime(started, now).TotalMilliseconds;
                }
                else
                {
                    var late = Stopwatch.GetElapsedTime(firstAt, now) - (OpenAIMock.Pace * deltas);
                    worst = Math.Max(worst, late.TotalMilliseconds);
                }

                deltas++;
            }

            return deltas == OpenAIMock.PacedDeltas ? new StreamResult(worst, null) : new StreamResult(worst, $"{deltas} of {OpenAIMock.PacedDeltas} deltas");
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or TaskCanceledException)
        {
            return new StreamResult(0, ex.GetType().Name + ": " + ex.Message);
        }
    }

    private static void Report(List<Target> targets, Percentiles[] latency, Percentiles[] ttft, int[] held)
    {
        Console.WriteLine($"most paced streams held: {string.Join(", ", targets.Select((t, i) => $"{t.Name} {held[i]}"))}");
        int Index(string prefix) => targets.FindIndex(t => t.Name.StartsWith(prefix, StringComparison.Ordinal));
        var (ours, portkey, nginx) = (Index("llm-router-node"), Index("Portkey"), Index("nginx"));
        Percentiles Added(Percentiles[] figures, int i) => new(figures[i].P50 - figures[0].P50, figures[i].P99 - figures[0].P99);
        var ourLatency = Added(latency, ours);
        var ourTtft = Added(ttft, ours);
        string Figure(Percentiles p) => $"p50 {p.P50:+0.000;-0.000} ms, p99 {p.P99:+0.000;-0.000} ms";
        var references = new List<string>();
        if (nginx >= 0)
        {
            var nginxLatency = Added(latency, nginx);
            var nginxTtft = Added(ttft, nginx);
            Findings.Add("peers, HTTP", "added latency, whole answer, concurrency 1", Figure(ourLatency), $"nginx {Figure(nginxLatency)}", "<= 1.5x nginx",
                ourLatency.P50 <= 1.5 * Math.Max(nginxLatency.P50, 0.001) && ourLatency.P99 <= 1.5 * Math.Max(nginxLatency.P99, 0.001));
            Findings.Add("peers, HTTP", "added time to first token, concurrency 1", Figure(ourTtft), $"nginx {Figure(nginxTtft)}", "<= 1.5x nginx",
                ourTtft.P50 <= 1.5 * Math.Max(nginxTtft.P50, 0.001) && ourTtft.P99 <= 1.5 * Math.Max(nginxTtft.P99, 0.001));
        }

        if (portkey >= 0)
        {
            var portkeyLatency = Added(latency, portkey);
            var portkeyTtft = Added(ttft, portkey);
            Findings.Add("peers, HTTP", "added latency against Portkey", Figure(ourLatency), $"Portkey {Figure(portkeyLatency)}", "< 0.1x Portkey",
                ourLatency.P50 < 0.1 * portkeyLatency.P50 && ourLatency.P99 < 0.1 * portkeyLatency.P99);
            Findings.Add("peers, HTTP", "added time to first token against Portkey", Figure(ourTtft), $"Portkey {Figure(portkeyTtft)}", "< 0.1x Portkey",
                ourTtft.P50 < 0.1 * portkeyTtft.P50 && ourTtft.P99 < 0.1 * portkeyTtft.P99);
        }

        var floor = Index("bare .NET proxy");
        if (floor >= 0)
        {
            // Not a target: how much of our added time a .NET gateway pays before doing anything of its own.
            Findings.Add("peers, HTTP", "added latency and TTFT of a bare .NET proxy (Kestrel + HttpClient, bytes copied)",
                $"whole {Figure(Added(latency, floor))}; TTFT {Figure(Added(ttft, floor))}", $"ours: whole {Figure(ourLatency)}; TTFT {Figure(ourTtft)}");
            references.Add($"bare .NET proxy {held[floor]}");
        }

        references.Add($"mock alone {held[0]}");
        if (portkey >= 0)
        {
            references.Add($"Portkey {held[portkey]}");
        }

        if (nginx >= 0)
        {
            references.Add($"nginx {held[nginx]}");
        }

        Findings.Add("peers, HTTP", $"paced streams held (64 deltas, 20 ms apart, none > {LateBound.TotalMilliseconds:0} ms late)", $"{held[ours]}", string.Join(", ", references),
            ">= 4x Portkey, >= 0.8x nginx",
            (portkey < 0 || held[ours] >= 4 * held[portkey]) && (nginx < 0 || held[ours] >= 0.8 * held[nginx]));
    }

    /// <summary>
    /// Our forwarding hop beside nginx grpc_pass as a bare gRPC proxy, both with mutual TLS on each side, in
    /// front of the same serving node (a2, simulated, unpaced): the time to the first token of a one-token
    /// answer at concurrency 1, direct to a2, through node a, and through nginx.
    /// </summary>
    private static async Task GrpcHopAsync(DirectoryInfo directory, int? gateway, int? driver, List<ChildProcess> processes)
    {
        var grpc = Directory.CreateDirectory(Path.Combine(directory.FullName, "grpc"));
        var (aPort, a2Port) = (BenchMesh.FreePort(), BenchMesh.FreePort());
        var (config, _, store) = await BenchMesh.CreateAsync(grpc, $$"""
            pools:
              - name: pool
                nodes:
                  - id: a
                    listen: https://127.0.0.1:{{aPort}}
                    backends:
                      - id: sim-a
                        kind: simulated
                        simulated: { time_to_first_token: 0ms, tokens_per_second: 0 }
                        models: [{ id: here }]
                  - id: a2
                    listen: https://localhost:{{a2Port}}
                    backends:
                      - id: sim-a2
                        kind: simulated
                        max_concurrency: 1000
                        simulated: { time_to_first_token: 0ms, tokens_per_second: 0 }
                        models: [{ id: near }]
            """);
        processes.Add(ChildProcess.StartNode(config, "a2", driver));
        processes.Add(ChildProcess.StartNode(config, "a", gateway));
        var targets = new List<(string Name, Grpc.Net.Client.GrpcChannel Channel)>
        {
            ("direct: client -> a2 (reference)", BenchMesh.ClientChannel(store, a2Port)),
            ("llm-router-node hop: client -> a -> a2", BenchMesh.ClientChannel(store, aPort)),
        };
        if (NginxGrpc(grpc, gateway, store, a2Port) is var (nginx, nginxPort))
        {
            processes.Add(nginx);
            targets.Add(("nginx grpc_pass: client -> nginx -> a2", BenchMesh.ClientChannel(store, nginxPort)));
        }

        var proxyPort = BenchMesh.FreePort();
        processes.Add(ChildProcess.Start("llmrouter-bench.dll", gateway, "serve-dotnet-grpc-proxy", store.Directory, "a", proxyPort.ToString(CultureInfo.InvariantCulture), a2Port.ToString(CultureInfo.InvariantCulture)));
        targets.Add(("bare .NET proxy (floor): client -> proxy -> a2", BenchMesh.ClientChannel(store, proxyPort)));

        try
        {
            foreach (var (name, channel) in targets)
            {
                try
                {
                    await FirstGrpcTokenAsync(channel, name, wait: true);
                }
                catch (Grpc.Core.RpcException ex)
                {
                    var log = Path.Combine(grpc.FullName, "nginx", "error.log");
                    throw new InvalidOperationException($"{name} does not answer: {ex.Status.Detail}{(name.StartsWith("nginx", StringComparison.Ordinal) && File.Exists(log) ? "; nginx error.log: " + File.ReadAllText(log) : "")}", ex);
                }
            }

            foreach (var (name, channel) in targets)
            {
                var warming = Stopwatch.StartNew();
                for (var i = 0; i < Warmup || warming.Elapsed < WarmupTime; i++)
                {
                    await FirstGrpcTokenAsync(channel, name, wait: false);
                }
            }

            var samples = targets.Select(_ => new List<double>()).ToArray();
            for (var round = 0; round < Rounds; round++)
            {
                for (var t = 0; t < targets.Count; t++)
                {
                    for (var i = 0; i < PerRound; i++)
                    {
                        samples[t].Add(await FirstGrpcTokenAsync(targets[t].Channel, targets[t].Name, wait: false));
                    }
                }
            }

            var figures = samples.Select(list =>
            {
                list.Sort();
                return new Percentiles(BenchMesh.Percentile(list, 0.5), BenchMesh.Percentile(list, 0.99));
            }).ToArray();
            Console.WriteLine($"{"gRPC, mutual TLS, concurrency 1",-48} {"TTFT p50",9} {"p99",8} {"added p50",10} {"p99",8}");
            for (var i = 0; i < targets.Count; i++)
            {
                Console.WriteLine($"{targets[i].Name,-48} {figures[i].P50,9:0.000} {figures[i].P99,8:0.000} {figures[i].P50 - figures[0].P50,10:+0.000;-0.000} {figures[i].P99 - figures[0].P99,8:+0.000;-0.000}");
            }

            Console.WriteLine("ms; time to the first token of a one-token answer");
            var ours = new Percentiles(figures[1].P50 - figures[0].P50, figures[1].P99 - figures[0].P99);
            var floor = figures[^1];
            var floorAdded = $"bare .NET proxy p50 {floor.P50 - figures[0].P50:+0.000;-0.000} ms, p99 {floor.P99 - figures[0].P99:+0.000;-0.000} ms";
            var nginxAt = targets.FindIndex(t => t.Name.StartsWith("nginx", StringComparison.Ordinal));
            if (nginxAt > 0)
            {
                var theirs = new Percentiles(figures[nginxAt].P50 - figures[0].P50, figures[nginxAt].P99 - figures[0].P99);
                Findings.Add("peers, gRPC", "added time to first token of a hop, concurrency 1",
                    $"p50 {ours.P50:+0.000;-0.000} ms, p99 {ours.P99:+0.000;-0.000} ms",
                    $"nginx grpc_pass p50 {theirs.P50:+0.000;-0.000} ms, p99 {theirs.P99:+0.000;-0.000} ms; {floorAdded}",
                    "<= nginx grpc_pass", ours.P50 <= theirs.P50 && ours.P99 <= theirs.P99);
            }
        }
        finally
        {
            foreach (var (_, channel) in targets)
            {
                channel.Dispose();
            }
        }
    }

    /// <summary>
    /// nginx as a bare gRPC proxy: mutual TLS from the client (the mesh CA), grpc_pass over mutual TLS to the
    /// node, verified by name (nginx checks DNS names only, so a2 listens as localhost, which its certificate names),
    /// with its upstream connections kept alive as our node keeps its channels (without keepalive, nginx
    /// would pay a TLS handshake to the node on every call).
    /// </summary>
    private static (ChildProcess Process, int Port)? NginxGrpc(DirectoryInfo directory, int? core, LlmRouter.Common.Identity.CertificateStore store, int upstreamPort)
    {
        var port = BenchMesh.FreePort();
        var ca = store.CertificatePath(LlmRouter.Common.Identity.CertificateStore.CaName);
        var client = LlmRouter.Common.Identity.CertificateStore.ClientName;
        var process = StartNginx(directory, core, $$"""
            upstream node { server 127.0.0.1:{{upstreamPort}}; keepalive 64; }
            server {
              listen 127.0.0.1:{{port}} ssl http2;
              ssl_certificate {{store.CertificatePath("a")}};
              ssl_certificate_key {{store.KeyPath("a")}};
              ssl_client_certificate {{ca}};
              ssl_verify_client on;
              location / {
                grpc_pass grpcs://node;
                grpc_ssl_certificate {{store.CertificatePath(client)}};
                grpc_ssl_certificate_key {{store.KeyPath(client)}};
                grpc_ssl_trusted_certificate {{ca}};
                grpc_ssl_verify on;
                grpc_ssl_name localhost;
              }
            }
            """);
        return process is null ? null : (process, port);
    }

    /// <summary>Milliseconds to the first token of a one-token answer; with <paramref name="wait"/>, retried until the path answers (a learning its pool, nginx starting).</summary>
    private static async Task<double> FirstGrpcTokenAsync(Grpc.Net.Client.GrpcChannel channel, string name, bool wait)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                var request = new LlmRouter.V1.ChatRequest { Model = "near", Sampling = new LlmRouter.V1.SamplingParameters { MaxTokens = 1 } };
                request.Messages.Add(new LlmRouter.V1.ChatMessage { Role = LlmRouter.V1.Role.User, Content = "hello" });
                var started = Stopwatch.GetTimestamp();
                using var call = new LlmRouter.V1.Router.RouterClient(channel).Chat(request);
                double? first = null;
                while (await call.ResponseStream.MoveNext(CancellationToken.None))
                {
                    if (first is null && call.ResponseStream.Current.FrameCase == LlmRouter.V1.ChatResponse.FrameOneofCase.Delta)
                    {
                        first = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                    }
                }

                return first ?? throw new InvalidOperationException($"{name} streamed no token");
            }
            catch (Grpc.Core.RpcException) when (wait && clock.Elapsed < TimeSpan.FromSeconds(30))
            {
                await Task.Delay(100);
            }
        }
    }

    private static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "LlmRouter.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException($"no LlmRouter.sln above {AppContext.BaseDirectory}");
    }

    // A chunk with text: OpenAI's "content":"..." with at least one character (the role chunk's is empty).
    [GeneratedRegex("\"content\":\"[^\"]")]
    private static partial Regex Text();
}
