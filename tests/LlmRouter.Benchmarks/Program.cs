using LlmRouter.Benchmarks;

// llmrouter-bench            gossip figures for N = 10, 100, 1000
// llmrouter-bench 10 100     gossip figures for the sizes given
// llmrouter-bench node       the router's own cost against a bare gRPC echo, and the cost of a hop
// llmrouter-bench streams    time to first token and gaps between tokens through 0, 1 and 2 hops
return args switch
{
    ["node"] => await NodeBenchmark.RunAsync(),
    ["streams"] => await StreamBenchmark.RunAsync(),
    _ => GossipBenchmark.Run(args),
};
