using LlmRouter.Benchmarks;

// llmrouter-bench            gossip figures for N = 10, 100, 1000
// llmrouter-bench 10 100     gossip figures for the sizes given
// llmrouter-bench node       the router's own cost against a bare gRPC echo, and the cost of a hop
// llmrouter-bench streams    time to first token and gaps between tokens through 0, 1 and 2 hops
// llmrouter-bench capacity   paced streams held by one node, and its memory idle and with 1000 streams
// llmrouter-bench convergence  five node processes: join, crash detection and rejoin times
return args switch
{
    ["node"] => await NodeBenchmark.RunAsync(),
    ["streams"] => await StreamBenchmark.RunAsync(),
    ["capacity"] => await CapacityBenchmark.RunAsync(),
    ["convergence"] => await ConvergenceBenchmark.RunAsync(),
    ["serve-echo", var certificates, var member, var port] => await EchoServer.ServeAsync(certificates, member, int.Parse(port, System.Globalization.CultureInfo.InvariantCulture)),
    _ => GossipBenchmark.Run(args),
};
