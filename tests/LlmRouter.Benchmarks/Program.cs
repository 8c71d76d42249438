using LlmRouter.Benchmarks;

// llmrouter-bench            gossip figures for N = 10, 100, 1000
// llmrouter-bench 10 100     gossip figures for the sizes given
// llmrouter-bench node       the router's own cost against a bare gRPC echo, and the cost of a hop
return args is ["node"] ? await NodeBenchmark.RunAsync() : GossipBenchmark.Run(args);
