using System.Diagnostics;
using Grpc.Core;
using Grpc.Net.Client;
using LlmRouter.Common.Configuration;
using LlmRouter.Common.Identity;
using LlmRouter.Node.Hosting;
using LlmRouter.V1;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace LlmRouter.Benchmarks;

/// <summary>
/// The router's own cost, as ratios against a bare reference measured in the same run (issue 6), all over
/// mutual TLS on loopback: client -> node -> zero-latency simulated backend against client -> a bare gRPC
/// server streaming the same message shapes; and client -> A -> B against client -> B (one forwarding hop).
/// </summary>
internal static class NodeBenchmark
{
    private const int Tokens = 16;

    public static async Task<int> RunAsync()
    {
        var directory = Directory.CreateTempSubdirectory("llmrouter-bench-");
        try
        {
            var (portA, portB, portEcho) = (BenchMesh.FreePort(), BenchMesh.FreePort(), BenchMesh.FreePort());
            var (_, mesh, store) = await BenchMesh.CreateAsync(directory, Pools(portA, portB));

            await using var nodeA = await StartNodeAsync(mesh, "a");
            await using var nodeB = await StartNodeAsync(mesh, "b");
            await using var echo = await EchoServer.StartAsync(store, "b", portEcho);
            using var toA = BenchMesh.ClientChannel(store, portA);
            using var toB = BenchMesh.ClientChannel(store, portB);
            using var toEcho = BenchMesh.ClientChannel(store, portEcho);
            await WaitForForwardingAsync(toA);

            Console.WriteLine($"Router cost (mutual TLS on loopback, {Tokens}-token streams, zero-latency simulated backend), {Environment.ProcessorCount} cores");
            Console.WriteLine();
            // Every path warms up (JIT tiers, connections, pools) before any is measured; then rounds alternate
            // between the paths so drift on a noisy machine hits them alike.
            (GrpcChannel Channel, string Model)[] paths = [(toEcho, "local"), (toB, "local"), (toA, "remote")];
            foreach (var (channel, model) in paths)
            {
                await MeasureAsync(channel, model, concurrency: 8, TimeSpan.FromSeconds(3));
            }

            var serial = await RoundsAsync(paths, concurrency: 1);
            var loaded = await RoundsAsync(paths, concurrency: 64);
            var (echoSerial, nodeSerial, hopSerial) = (serial[0], serial[1], serial[2]);
            var (echoLoad, nodeLoad, hopLoad) = (loaded[0], loaded[1], loaded[2]);

            Console.WriteLine($"{"path",-34} {"p50 ms",8} {"p99 ms",8} {"streams/s @1",13} {"streams/s @64",14}");
            Row("bare gRPC echo (reference)", echoSerial, echoLoad);
            Row("client -> node -> backend", nodeSerial, nodeLoad);
            Row("client -> A -> B -> backend", hopSerial, hopLoad);
            Console.WriteLine();
            Console.WriteLine($"node cost: p50 {Ratio(nodeSerial.P50, echoSerial.P50)} of the bare echo, throughput {Ratio(nodeLoad.Throughput, echoLoad.Throughput)} of it (targets: p50 <= 1.25x, throughput >= 0.6x)");
            Console.WriteLine($"hop cost: +{hopSerial.P50 - nodeSerial.P50:0.000} ms p50, +{hopSerial.P99 - nodeSerial.P99:0.000} ms p99 per forwarding hop; a bare mutual-TLS round trip is {echoSerial.P50:0.000} ms p50 here (target: a hop adds <= 1.3x of it)");
            var hop = hopSerial.P50 - nodeSerial.P50;
            Findings.Add("node", "a node's own cost, p50 at concurrency 1", $"{nodeSerial.P50:0.000} ms ({nodeSerial.P50 / echoSerial.P50:0.00}x)", $"echo {echoSerial.P50:0.000} ms", "<= 1.25x", nodeSerial.P50 <= 1.25 * echoSerial.P50);
            Findings.Add("node", "throughput at concurrency 64", $"{nodeLoad.Throughput:0}/s ({nodeLoad.Throughput / echoLoad.Throughput:0.00}x)", $"echo {echoLoad.Throughput:0}/s", ">= 0.6x", nodeLoad.Throughput >= 0.6 * echoLoad.Throughput);
            Findings.Add("node", "a forwarding hop (A -> B against -> B), p50", $"+{hop:0.000} ms ({hop / echoSerial.P50:0.00}x)", $"bare round trip {echoSerial.P50:0.000} ms", "<= 1.3x", hop <= 1.3 * echoSerial.P50);
            return 0;
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    private sealed record Measurement(double P50, double P99, double Throughput, int Errors);

    private static void Row(string name, Measurement serial, Measurement load) =>
        Console.WriteLine($"{name,-34} {serial.P50,8:0.000} {serial.P99,8:0.000} {serial.Throughput,13:0} {load.Throughput,14:0}{(serial.Errors + load.Errors > 0 ? $"  ({serial.Errors + load.Errors} errors)" : "")}");

    private static string Ratio(double value, double reference) => reference > 0 ? $"{value / reference:0.00}x" : "n/a";

    private static async Task<Measurement[]> RoundsAsync((GrpcChannel Channel, string Model)[] paths, int concurrency)
    {
        const int Rounds = 5;
        var results = paths.Select(_ => new List<Measurement>()).ToArray();
        for (var round = 0; round < Rounds; round++)
        {
            for (var i = 0; i < paths.Length; i++)
            {
                results[i].Add(await MeasureAsync(paths[i].Channel, paths[i].Model, concurrency, TimeSpan.FromSeconds(2)));
            }
        }

        // The median round of each figure.
        return results.Select(r => new Measurement(
            r.Select(m => m.P50).Order().ElementAt(Rounds / 2),
            r.Select(m => m.P99).Order().ElementAt(Rounds / 2),
            r.Select(m => m.Throughput).Order().ElementAt(Rounds / 2),
            r.Sum(m => m.Errors))).ToArray();
    }

    private static async Task<Measurement> MeasureAsync(GrpcChannel channel, string model, int concurrency, TimeSpan duration)
    {
        var client = new Router.RouterClient(channel);
        var request = new ChatRequest { Model = model, Sampling = new SamplingParameters { MaxTokens = Tokens } };
        request.Messages.Add(new ChatMessage { Role = Role.User, Content = "benchmark" });

        var latencies = new List<double>[concurrency];
        var errors = 0;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async worker =>
        {
            latencies[worker] = [];
            while (clock.Elapsed < duration)
            {
                var started = Stopwatch.GetTimestamp();
                try
                {
                    await OneAsync(client, request);
                    latencies[worker].Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                }
                catch (RpcException)
                {
                    Interlocked.Increment(ref errors);
                }
            }
        }));
        var all = latencies.SelectMany(l => l).Order().ToList();
        return new Measurement(BenchMesh.Percentile(all, 0.50), BenchMesh.Percentile(all, 0.99), all.Count / clock.Elapsed.TotalSeconds, errors);
    }

    private static async Task OneAsync(Router.RouterClient client, ChatRequest request)
    {
        using var call = client.Chat(request);
        await foreach (var _ in call.ResponseStream.ReadAllAsync())
        {
        }
    }

    private static async Task WaitForForwardingAsync(GrpcChannel toA)
    {
        var admin = new Admin.AdminClient(toA);
        var clock = Stopwatch.StartNew();
        while (!(await admin.ListMeshModelsAsync(new ListMeshModelsRequest())).Models.Any(m => m.Id == "remote"))
        {
            if (clock.Elapsed > TimeSpan.FromSeconds(30))
            {
                throw new TimeoutException("node a never learned b's model through gossip");
            }

            await Task.Delay(100);
        }
    }

    private static async Task<WebApplication> StartNodeAsync(MeshConfig mesh, string id)
    {
        var app = NodeHostBuilder.Build(new NodeLaunch(mesh, id, JsonLogs: false) { MinimumLogLevel = Serilog.Events.LogEventLevel.Warning });
        await app.StartAsync();
        return app;
    }

    private static string Pools(int portA, int portB) => $"""
        pools:
          - name: pool
            nodes:
              - id: a
                listen: https://127.0.0.1:{portA}
                backends:
                  - id: sim-a
                    kind: simulated
                    max_concurrency: 1000
                    max_queue: 10000
                    simulated: {"{"} time_to_first_token: 0ms, tokens_per_second: 0 {"}"}
                    models:
                      - id: other
              - id: b
                listen: https://127.0.0.1:{portB}
                backends:
                  - id: sim-b
                    kind: simulated
                    max_concurrency: 1000
                    max_queue: 10000
                    simulated: {"{"} time_to_first_token: 0ms, tokens_per_second: 0 {"}"}
                    models:
                      - id: local
                      - id: remote
        """;
}
