using System.Diagnostics;
using Grpc.Core;
using Grpc.Net.Client;
using LlmRouter.Common.Configuration;
using LlmRouter.Common.Identity;
using LlmRouter.V1;

namespace LlmRouter.Benchmarks;

/// <summary>
/// Streams through 0, 1 and 2 hops (issue 6, item 3), over mutual TLS on loopback: paced simulated
/// backends (64 deltas, 20 ms apart) reached directly (client -> serving node), through one forwarding
/// hop (client -> a -> a2) and through two (client -> a -> integrator -> b). Per stream, the time to the
/// first token and every gap between deltas as the client sees them; the added time to first token and
/// the gap ratio are against the direct path measured in the same run.
/// </summary>
internal static class StreamBenchmark
{
    private const int Deltas = 64;
    internal const int Concurrency = 8;
    private const int FirstTokenSamples = 300;

    public static async Task<int> RunAsync()
    {
        var directory = Directory.CreateTempSubdirectory("llmrouter-bench-streams-");
        try
        {
            var ports = Enumerable.Range(0, 5).Select(_ => BenchMesh.FreePort()).ToArray();
            var (_, mesh, store) = await BenchMesh.CreateAsync(directory, Pools(ports));

            await using var hosts = await BenchMesh.StartHostsAsync(mesh, ["a", "a2", "b"], ["i1"]);
            using var toA = BenchMesh.ClientChannel(store, ports[0]);
            using var toA2 = BenchMesh.ClientChannel(store, ports[1]);
            await WaitForAsync(toA, "near", routes: false);
            await WaitForAsync(toA, "far", routes: true);

            (string Name, GrpcChannel Channel, string Model)[] paths =
            [
                ("direct: client -> serving node", toA2, "near"),
                ("1 hop: client -> a -> a2", toA, "near"),
                ("2 hops: client -> a -> i1 -> b", toA, "far"),
            ];
            foreach (var (_, channel, model) in paths)
            {
                await MeasureAsync(channel, model, streams: Concurrency);
            }

            // Alternating rounds, so drift on a noisy machine hits every path alike. Time to first token
            // alone (one stream at a time, one-token answers), then paced streams for the gaps.
            var first = paths.Select(_ => new List<double>()).ToArray();
            var samples = paths.Select(_ => (Ttft: new List<double>(), Gaps: new List<double>())).ToArray();
            for (var round = 0; round < 3; round++)
            {
                for (var i = 0; i < paths.Length; i++)
                {
                    first[i].AddRange(await FirstTokensAsync(paths[i].Channel, paths[i].Model, FirstTokenSamples));
                }
            }

            for (var round = 0; round < 3; round++)
            {
                for (var i = 0; i < paths.Length; i++)
                {
                    var (ttft, gaps) = await MeasureAsync(paths[i].Channel, paths[i].Model, streams: Concurrency * 3);
                    samples[i].Ttft.AddRange(ttft);
                    samples[i].Gaps.AddRange(gaps);
                }
            }

            Console.WriteLine($"Streams through 0, 1 and 2 hops, mutual TLS on loopback, {Environment.ProcessorCount} cores. Time to first token: one stream at a time, {3 * FirstTokenSamples} per path,");
            Console.WriteLine($"the backend answering at once (the path alone). Gaps: {Deltas} deltas paced 20 ms apart by the backend, {Concurrency} streams at a time, {9 * Concurrency} per path.");
            Console.WriteLine();
            Console.WriteLine($"{"path",-34} {"TTFT p50",9} {"TTFT p99",9} {"+TTFT p50",10} {"+TTFT p99",10} {"loaded TTFT p50/p99",20} {"gap p50",8} {"gap p99",8} {"gap ratio p50/p99",18}");
            var direct = Summary(samples[0], first[0]);
            for (var i = 0; i < paths.Length; i++)
            {
                var s = Summary(samples[i], first[i]);
                Console.WriteLine($"{paths[i].Name,-34} {s.TtftP50,9:0.000} {s.TtftP99,9:0.000} {s.TtftP50 - direct.TtftP50,10:+0.000;-0.000} {s.TtftP99 - direct.TtftP99,10:+0.000;-0.000} {$"{s.LoadedP50:0.00}/{s.LoadedP99:0.00}",20} {s.GapP50,8:0.000} {s.GapP99,8:0.000} {s.GapP50 / direct.GapP50,8:0.000}/{s.GapP99 / direct.GapP99:0.000}");
            }

            Console.WriteLine();
            Console.WriteLine("milliseconds; targets: added time to first token <= 1 ms p99 per hop, gap ratio within 5% of direct (no buffering)");
            for (var i = 1; i < paths.Length; i++)
            {
                var s = Summary(samples[i], first[i]);
                var perHop = (s.TtftP99 - direct.TtftP99) / i;
                Findings.Add("streams", $"added TTFT per hop, {paths[i].Name}", $"p50 {(s.TtftP50 - direct.TtftP50) / i:+0.000;-0.000} ms, p99 {perHop:+0.000;-0.000} ms", $"direct p50 {direct.TtftP50:0.000}, p99 {direct.TtftP99:0.000} ms", "<= 1 ms p99 per hop", perHop <= 1);
                var (gap50, gap99) = (s.GapP50 / direct.GapP50, s.GapP99 / direct.GapP99);
                Findings.Add("streams", $"gap between tokens, {paths[i].Name}", $"p50 {gap50:0.000}x, p99 {gap99:0.000}x", $"direct p50 {direct.GapP50:0.0}, p99 {direct.GapP99:0.0} ms", "within 5%", Math.Abs(gap50 - 1) <= 0.05 && Math.Abs(gap99 - 1) <= 0.05);
            }

            return 0;
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    internal static (double TtftP50, double TtftP99, double LoadedP50, double LoadedP99, double GapP50, double GapP99) Summary(
        (List<double> Ttft, List<double> Gaps) sample, List<double> first)
    {
        var alone = first.Order().ToList();
        var loaded = sample.Ttft.Order().ToList();
        var gaps = sample.Gaps.Order().ToList();
        return (BenchMesh.Percentile(alone, 0.5), BenchMesh.Percentile(alone, 0.99), BenchMesh.Percentile(loaded, 0.5), BenchMesh.Percentile(loaded, 0.99), BenchMesh.Percentile(gaps, 0.5), BenchMesh.Percentile(gaps, 0.99));
    }

    /// <summary>The request every measurement sends: one user message asking for <paramref name="maxTokens"/> tokens.</summary>
    internal static ChatRequest Ask(string model, uint maxTokens, string prompt = "benchmark", params string[] labels)
    {
        var request = new ChatRequest { Model = model, Sampling = new SamplingParameters { MaxTokens = maxTokens }, PolicyLabels = { labels } };
        request.Messages.Add(new ChatMessage { Role = Role.User, Content = prompt });
        return request;
    }

    /// <summary>One stream at a time, each a one-token answer: the time from the call to its first token, in ms.</summary>
    internal static async Task<List<double>> FirstTokensAsync(GrpcChannel channel, string model, int count, ChatRequest? ask = null)
    {
        var client = new Router.RouterClient(channel);
        var request = ask ?? Ask(model, 1);
        var times = new List<double>(count);
        for (var i = 0; i < count; i++)
        {
            var started = Stopwatch.GetTimestamp();
            using var call = client.Chat(request);
            await foreach (var frame in call.ResponseStream.ReadAllAsync())
            {
                if (frame.FrameCase == ChatResponse.FrameOneofCase.Delta && times.Count == i)
                {
                    times.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                }
            }
        }

        return times;
    }

    /// <summary>Runs the given number of streams, <see cref="Concurrency"/> at a time; returns every TTFT and gap in ms.</summary>
    internal static async Task<(List<double> Ttft, List<double> Gaps)> MeasureAsync(GrpcChannel channel, string model, int streams, ChatRequest? ask = null)
    {
        var client = new Router.RouterClient(channel);
        var ttft = new List<double>();
        var gaps = new List<double>();
        var next = 0;
        await Task.WhenAll(Enumerable.Range(0, Concurrency).Select(async _ =>
        {
            while (Interlocked.Increment(ref next) <= streams)
            {
                var request = ask ?? Ask(model, Deltas);
                var started = Stopwatch.GetTimestamp();
                long last = 0;
                var mine = new List<double>();
                double first = 0;
                using var call = client.Chat(request);
                await foreach (var frame in call.ResponseStream.ReadAllAsync())
                {
                    if (frame.FrameCase != ChatResponse.FrameOneofCase.Delta)
                    {
                        continue;
                    }

                    var now = Stopwatch.GetTimestamp();
                    if (last == 0)
                    {
                        first = Stopwatch.GetElapsedTime(started, now).TotalMilliseconds;
                    }
                    else
                    {
                        mine.Add(Stopwatch.GetElapsedTime(last, now).TotalMilliseconds);
                    }

                    last = now;
                }

                lock (ttft)
                {
                    ttft.Add(first);
                    gaps.AddRange(mine);
                }
            }
        }));
        return (ttft, gaps);
    }

    internal static async Task WaitForAsync(GrpcChannel toA, string model, bool routes)
    {
        var admin = new Admin.AdminClient(toA);
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var known = await admin.ListMeshModelsAsync(new ListMeshModelsRequest());
            if (routes ? known.Routes.Any(r => r.Route.Model.Id == model) : known.Models.Any(m => m.Id == model))
            {
                return;
            }

            if (clock.Elapsed > TimeSpan.FromSeconds(30))
            {
                throw new TimeoutException($"node a never learned of {model}");
            }

            await Task.Delay(100);
        }
    }

    private static string Pools(int[] ports) => $$"""
        pools:
          - name: pool-a
            nodes:
              - id: a
                listen: https://127.0.0.1:{{ports[0]}}
                backends:
                  - { id: sim-a, kind: simulated, max_concurrency: 1000, max_queue: 10000, simulated: { time_to_first_token: 0ms, tokens_per_second: 0 }, models: [ { id: other } ] }
              - id: a2
                listen: https://127.0.0.1:{{ports[1]}}
                backends:
                  - { id: sim-a2, kind: simulated, max_concurrency: 1000, max_queue: 10000, simulated: { time_to_first_token: 0ms, tokens_per_second: 50, answer_tokens: 64 }, models: [ { id: near } ] }
          - name: pool-b
            nodes:
              - id: b
                listen: https://127.0.0.1:{{ports[2]}}
                backends:
                  - { id: sim-b, kind: simulated, max_concurrency: 1000, max_queue: 10000, simulated: { time_to_first_token: 0ms, tokens_per_second: 50, answer_tokens: 64 }, models: [ { id: far } ] }
        integrators:
          - id: i1
            pools:
              - { pool: pool-a, listen: https://127.0.0.1:{{ports[3]}} }
              - { pool: pool-b, listen: https://127.0.0.1:{{ports[4]}} }
        """;
}
