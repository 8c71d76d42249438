using LlmRouter.MicroBenchmarks;

// llmrouter-microbench                          every benchmark (about two minutes on two cores)
// llmrouter-microbench --filter '*Ranking*'     ranking a request over 100 and 1000 candidates
// llmrouter-microbench --filter '*Gossip*'      applying one gossip update
// llmrouter-microbench --filter '*Relay*'       relaying one streamed chunk
// llmrouter-microbench --filter '*Metrics*'     the metrics one served request records
// llmrouter-microbench --filter '*Tracing*'     the spans one traced request makes
// (llmrouter-bench micro runs them too, and adds their figures to its summary table.)
MicroSuite.Run(args);
