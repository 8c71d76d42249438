using System.Globalization;
using LlmRouter.Benchmarks;

// llmrouter-bench                everything below, then one summary table (about 10 minutes)
// llmrouter-bench gossip [N ...] the membership simulator for N = 10, 100, 1000 (or the sizes given)
// llmrouter-bench quotas         a tenant's cap over a simulated pool of N = 10, 100, 1000, then over five node
//                                 processes in two pools and an integrator: admitted over the cap
// llmrouter-bench quotas [N ...] [cold|warm|one] [--spread S]  the simulated pools alone (the sizes and rows given)
// llmrouter-bench quotas real    the processes alone
// llmrouter-bench node           the router's own cost against a bare gRPC echo, and the cost of a hop
// llmrouter-bench streams        time to first token and gaps between tokens through 0, 1 and 2 hops
// llmrouter-bench capacity       paced streams held by one node, and its memory idle and with 1000 streams
// llmrouter-bench convergence    five node processes: join, crash detection and rejoin times
// llmrouter-bench micro          hot paths through BenchmarkDotNet, with allocations
// llmrouter-bench peers [http|http-latency|grpc] our HTTP ingress beside Portkey and nginx (one mock OpenAI server behind
//                                 them all), and our forwarding hop beside nginx grpc_pass
// llmrouter-bench masking        a stream's time to first token and gaps with personal data masked and restored, against the
//                                 same prompt unmasked
// llmrouter-bench telemetry      the node with nothing exported, scraped by Prometheus, tracing every request over OTLP,
//                                 and logging at Debug: what metrics, traces and logs cost
var code = args switch
{
    [] or ["all"] => await AllAsync(),
    ["gossip", .. var sizes] => GossipBenchmark.Run(sizes),
    ["quotas", "real"] => await QuotaBenchmark.RealAsync(),
    ["quotas"] => QuotaBenchmark.Run([]) + await QuotaBenchmark.RealAsync(),
    ["quotas", .. var quotaSizes] => QuotaBenchmark.Run(quotaSizes),
    ["node"] => await NodeBenchmark.RunAsync(),
    ["streams"] => await StreamBenchmark.RunAsync(),
    ["masking"] => await MaskingBenchmark.RunAsync(),
    ["capacity"] => await CapacityBenchmark.RunAsync(),
    ["convergence"] => await ConvergenceBenchmark.RunAsync(),
    ["micro"] => MicroBenchmark.Run(),
    ["peers", .. var parts] => await PeerBenchmark.RunAsync(parts),
    ["telemetry"] => await PeerBenchmark.TelemetryCostAsync(),
    ["serve-openai-mock", var port] => await OpenAIMock.ServeAsync(int.Parse(port, CultureInfo.InvariantCulture)),
    ["serve-dotnet-proxy", var port, var upstream] => await DotNetProxy.ServeAsync(int.Parse(port, CultureInfo.InvariantCulture), int.Parse(upstream, CultureInfo.InvariantCulture)),
    ["serve-dotnet-grpc-proxy", var certificates, var member, var port, var upstream] => await DotNetGrpcProxy.ServeAsync(certificates, member, int.Parse(port, CultureInfo.InvariantCulture), int.Parse(upstream, CultureInfo.InvariantCulture)),
    ["serve-echo", var certificates, var member, var port] => await EchoServer.ServeAsync(certificates, member, int.Parse(port, CultureInfo.InvariantCulture)),
    _ => Usage(),
};
Findings.Print();
return code;

static async Task<int> AllAsync()
{
    var failures = 0;
    // The machine-bound parts first; the simulator (virtual time, exact on any machine) last, since its
    // thousand in-process members leave the most garbage behind.
    foreach (var part in new Func<Task<int>>[]
    {
        NodeBenchmark.RunAsync,
        StreamBenchmark.RunAsync,
        MaskingBenchmark.RunAsync,
        CapacityBenchmark.RunAsync,
        ConvergenceBenchmark.RunAsync,
        () => PeerBenchmark.RunAsync([]),
        PeerBenchmark.TelemetryCostAsync,
        () => Task.FromResult(MicroBenchmark.Run()),
        () => Task.FromResult(GossipBenchmark.Run([])),
        () => Task.FromResult(QuotaBenchmark.Run([])),
        QuotaBenchmark.RealAsync,
    })
    {
        // Each part starts on a clean heap, so one part's garbage does not pause the next one's figures.
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        failures += await part() == 0 ? 0 : 1;
        Console.WriteLine();
    }

    return failures;
}

static int Usage()
{
    Console.Error.WriteLine("usage: llmrouter-bench [all | gossip [N ...] | node | streams | masking | capacity | convergence | peers | telemetry | micro]");
    return 2;
}
