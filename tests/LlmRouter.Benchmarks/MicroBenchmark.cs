using BenchmarkDotNet.Reports;
using LlmRouter.MicroBenchmarks;

namespace LlmRouter.Benchmarks;

/// <summary>
/// The hot paths (issue 6, item 6) through BenchmarkDotNet (tests/LlmRouter.MicroBenchmarks, in process,
/// allocations measured): ranking a request over 100 and 1000 candidates, applying a gossip update, relaying
/// one streamed chunk, the spans of a traced request. Its tables print as it runs; the figures the targets speak of go to the summary.
/// </summary>
internal static class MicroBenchmark
{
    public static int Run()
    {
        var reports = MicroSuite.Run([]).SelectMany(summary => summary.Reports.Select(report => (summary, report))).ToList();
        (double Nanoseconds, long Bytes)? Figure(string method, string? parameter = null)
        {
            var found = reports.FirstOrDefault(r => r.report.BenchmarkCase.Descriptor.WorkloadMethod.Name == method
                && (parameter is null || r.report.BenchmarkCase.Parameters.ValueInfo.Contains(parameter, StringComparison.Ordinal)));
            return found.report?.ResultStatistics is { } statistics
                ? (statistics.Mean, found.report.GcStats.GetBytesAllocatedPerOperation(found.report.BenchmarkCase) ?? 0)
                : null;
        }

        var failures = 0;
        if (Figure("RankRequest", "Candidates=1000") is { } rank1000 && Figure("RankRequest", "Candidates=100") is { } rank100)
        {
            var perCandidate = (rank1000.Bytes - rank100.Bytes) / 900.0;
            Findings.Add("hot paths", "rank a request over 1000 candidates (mean, allocated)", $"{rank1000.Nanoseconds / 1000:0.0} µs, {rank1000.Bytes} B",
                $"100 candidates: {rank100.Nanoseconds / 1000:0.0} µs, {rank100.Bytes} B", "< 50 µs", rank1000.Nanoseconds < 50_000);
            Findings.Add("hot paths", "allocation per added candidate (100 -> 1000)", $"{perCandidate:0.0} B", target: "none", met: perCandidate < 1);
        }
        else
        {
            failures++;
        }

        if (Figure("RankAfterViewChange", "Candidates=1000") is { } rebuild)
        {
            Findings.Add("hot paths", "rank right after a membership change (candidates rebuilt), 1000", $"{rebuild.Nanoseconds / 1000:0.0} µs, {rebuild.Bytes / 1024.0:0} KiB");
        }

        foreach (var (method, name) in new[] { ("ApplyLoadUpdate", "apply a gossiped load update"), ("ApplyAliveUpdate", "apply a gossiped alive update (incl. signing it)") })
        {
            if (Figure(method, "ecdsa") is { } signed && Figure(method, "insecure") is { } bare)
            {
                Findings.Add("hot paths", $"{name}, ECDSA P-256, pool of 100", $"{signed.Nanoseconds / 1000:0.0} µs, {signed.Bytes} B", $"unsigned {bare.Nanoseconds / 1000:0.00} µs, {bare.Bytes} B");
            }
        }

        if (Figure("RelayDelta") is { } relay)
        {
            Findings.Add("hot paths", "relay one streamed delta (parse, bookkeeping, frame)", $"{relay.Nanoseconds:0} ns, {relay.Bytes} B");
        }

        if (Figure("OneServedRequestsSpans", "Sampled=True") is { } traced && Figure("OneServedRequestsSpans", "Sampled=False") is { } untraced)
        {
            Findings.Add("hot paths", "the spans of one traced request (chat, attempt, backend call; mean, allocated)", $"{traced.Nanoseconds / 1000:0.0} µs, {traced.Bytes} B",
                $"not sampled: {untraced.Nanoseconds:0} ns, {untraced.Bytes} B");
        }

        return failures;
    }
}
