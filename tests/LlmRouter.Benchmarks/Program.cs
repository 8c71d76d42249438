using LlmRouter.Benchmarks;

return GossipBenchmark.Run(args);
