using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace LlmRouter.MicroBenchmarks;

/// <summary>
/// A short run (a few warm-ups and iterations, one launch) with allocations measured, in process: the whole
/// set finishes in minutes on two cores, and nothing has to be restored or built while it runs.
/// </summary>
internal sealed class ShortConfig : ManualConfig
{
    public ShortConfig()
    {
        // In process: BenchmarkDotNet's generated project looks for a project named like the assembly
        // (llmrouter-microbench), and an in-process run needs no second restore or build either.
        AddJob(Job.ShortRun.WithToolchain(InProcessEmitToolchain.Instance).WithId("short"));
        AddDiagnoser(MemoryDiagnoser.Default);
        AddColumn(StatisticColumn.Median);
        AddLogger(DefaultConfig.Instance.GetLoggers().ToArray());
        AddExporter(DefaultConfig.Instance.GetExporters().ToArray());
        AddColumnProvider(DefaultConfig.Instance.GetColumnProviders().ToArray());
        AddAnalyser(DefaultConfig.Instance.GetAnalysers().ToArray());
        AddValidator(DefaultConfig.Instance.GetValidators().ToArray());
        WithOptions(ConfigOptions.JoinSummary);
    }
}
