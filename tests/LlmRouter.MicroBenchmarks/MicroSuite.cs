using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace LlmRouter.MicroBenchmarks;

/// <summary>Runs the hot-path benchmarks (all, or those the arguments select) and hands back their summaries.</summary>
public static class MicroSuite
{
    public static IReadOnlyList<Summary> Run(string[] args) =>
        [.. BenchmarkSwitcher.FromAssembly(typeof(MicroSuite).Assembly).Run(args.Length > 0 ? args : ["--filter", "*"], new ShortConfig())];
}
