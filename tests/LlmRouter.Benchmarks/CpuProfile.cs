using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace LlmRouter.Benchmarks;

/// <summary>
/// Whose work a process's CPU went to, by its call stacks (issue 12, item 7): Linux <c>perf record</c> samples the
/// process's CPU clock a thousand times a second with each sample's stack, its JIT-compiled frames named through the
/// runtime's perf map (<see cref="ChildProcess.StartProfiled"/>), and each sample goes to the first frame from the
/// leaf up that says whose work it is: <see cref="Work.Metrics"/>, <see cref="Work.Traces"/>,
/// <see cref="Work.Logging"/>, the router's own code, or, with none of those on the stack, the framework's (Kestrel,
/// gRPC, sockets, the runtime).
///
/// Why: CPU time per answer compared between two processes moved by up to 8% here between two identical ones (code
/// layout, JIT and GC decisions) on a busy machine. A share within one process is exact up to its sampling error, a
/// fraction of a point with ten thousand samples, and says where the cost goes; but it is a floor, since some cost
/// has no frame of its own (below).
///
/// What it does not see: code inlined into its caller counts as the caller's; a garbage collection counts for the
/// code whose allocation started it (the workstation GC runs on the allocating thread), which charges each caller
/// for collections in proportion to what it allocates; a background collection's own thread counts as the framework's;
/// precompiled (ReadyToRun) framework code that the runtime never recompiled has no name in the map and counts for its
/// nearest named caller.
/// </summary>
internal static partial class CpuProfile
{
    /// <summary>Whose work a sample was.</summary>
    public enum Work
    {
        Framework,
        Router,
        Metrics,
        Traces,
        Logging,
    }

    /// <summary>One process's samples, by whose work they were, and the frames that decided it most often.</summary>
    /// <param name="Leaves">Samples by the frame they were taken in (the leaf): where time went whoever asked for it.</param>
    public sealed record Shares(IReadOnlyDictionary<Work, int> Samples, IReadOnlyDictionary<(Work Work, string Frame), int> Deciders, IReadOnlyDictionary<string, int> Leaves)
    {
        /// <summary>A leaf frame's share of all samples.</summary>
        public double LeafShare(string frame) => (double)Leaves.GetValueOrDefault(frame) / Math.Max(1, Total);

        /// <summary>The frames that decided the most samples for <paramref name="work"/>, with their share of all samples.</summary>
        public IEnumerable<(string Frame, double Share)> Top(Work work, int count) => Deciders
            .Where(d => d.Key.Work == work).OrderByDescending(d => d.Value).Take(count)
            .Select(d => (d.Key.Frame, (double)d.Value / Math.Max(1, Total)));

        public int Total => Samples.Values.Sum();

        public double Share(params Work[] works) => Total == 0 ? 0 : (double)works.Sum(w => Samples.GetValueOrDefault(w)) / Total;

        /// <summary>The sampling error of a share (one standard deviation, binomial).</summary>
        public double Error(params Work[] works) => Total == 0 ? 0 : Math.Sqrt(Share(works) * (1 - Share(works)) / Total);
    }

    /// <summary>Whether <c>perf</c> is installed and may sample here (root, or <c>perf_event_paranoid</c> allowing it); why not when it is not.</summary>
    public static async Task<string?> UnavailableAsync()
    {
        try
        {
            var (code, output) = await RunAsync("perf", ["record", "-e", "cpu-clock", "-o", "/dev/null", "--", "true"]);
            return code == 0 ? null : $"perf record failed ({output.Trim().Split('\n')[^1]})";
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "perf is not installed (Debian: apt-get install linux-perf)";
        }
    }

    /// <summary>Samples the process for <paramref name="duration"/> (it must run with its perf map, <see cref="ChildProcess.StartProfiled"/>) and sorts the samples by whose work they were.</summary>
    public static async Task<Shares> RecordAsync(int pid, TimeSpan duration, DirectoryInfo directory)
    {
        var data = Path.Combine(directory.FullName, $"perf-{pid.ToString(CultureInfo.InvariantCulture)}.data");
        var seconds = duration.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture);
        var (code, output) = await RunAsync("perf", ["record", "-e", "cpu-clock", "-F", "999", "-g", "-p", pid.ToString(CultureInfo.InvariantCulture), "-o", data, "--", "sleep", seconds]);
        if (code != 0)
        {
            throw new InvalidOperationException($"perf record -p {pid} exited {code}: {output}");
        }

        var samples = Enum.GetValues<Work>().ToDictionary(w => w, _ => 0);
        var deciders = new Dictionary<(Work, string), int>();
        var leaves = new Dictionary<string, int>();
        using var script = Process.Start(new ProcessStartInfo("perf", ["script", "-i", data, "-F", "comm,ip,sym,dso"]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var errors = script.StandardError.ReadToEndAsync();
        (Work Work, string Frame)? decided = null;
        var inSample = false;
        var leafTaken = false;
        void Count()
        {
            if (inSample)
            {
                samples[decided?.Work ?? Work.Framework]++;
                if (decided is { } decider)
                {
                    deciders[decider] = deciders.GetValueOrDefault(decider) + 1;
                }
            }
        }

        while (await script.StandardOutput.ReadLineAsync() is { } line)
        {
            if (line.Length == 0 || !char.IsWhiteSpace(line[0]))
            {
                // A sample ends with a blank line (a line that does not start with a frame's indent begins the next).
                Count();
                decided = null;
                inSample = line.Length > 0;
                leafTaken = false;
                continue;
            }

            if (!leafTaken)
            {
                var leaf = LeafName(line);
                leaves[leaf] = leaves.GetValueOrDefault(leaf) + 1;
                leafTaken = true;
            }

            inSample = true;
            if (decided is null && Classify(line) is { } work)
            {
                decided = (work, MethodName(line));
            }
        }

        Count();

        await script.WaitForExitAsync();
        File.Delete(data);
        if (script.ExitCode == 0 && samples[Work.Router] == 0)
        {
            // No frame of ours was named: the runtime's perf map was not where perf reads it (/tmp/perf-PID.map).
            throw new InvalidOperationException($"perf named no frame of the router's in process {pid}: was it started with its perf map in /tmp (ChildProcess.StartProfiled)?");
        }

        return script.ExitCode == 0 ? new Shares(samples, deciders, leaves) : throw new InvalidOperationException($"perf script exited {script.ExitCode}: {await errors}");
    }

    /// <summary>Forgets the perf map files the runtime wrote for a process that has ended.</summary>
    public static void DeleteMaps(int pid)
    {
        foreach (var prefix in new[] { "perf", "perfinfo" })
        {
            File.Delete(Path.Combine("/tmp", $"{prefix}-{pid.ToString(CultureInfo.InvariantCulture)}.map"));
        }
    }

    /// <summary>
    /// Whose work a frame is, or null for a frame that says nothing (the framework's and the runtime's, which serve
    /// every caller, and native frames without a name). Decided by the method's own assembly and type, never by the
    /// types in its signature (a method of the router that takes an Activity is the router's).
    /// </summary>
    internal static Work? Classify(string frame)
    {
        if (FrameMethod().Match(frame) is not { Success: true } match)
        {
            return null;
        }

        var method = match.Groups["method"].Value;
        // Frames that only pass a request on: HttpClient's diagnostics handler, below which the whole of every HTTP
        // call runs (what it adds itself, the activity and the traceparent header, are frames of their own).
        if (PassThrough().IsMatch(method))
        {
            return null;
        }

        if (MetricsMethod().IsMatch(method))
        {
            return Work.Metrics;
        }

        if (TracesMethod().IsMatch(method))
        {
            return Work.Traces;
        }

        if (LoggingMethod().IsMatch(method))
        {
            return Work.Logging;
        }

        return RouterAssembly().IsMatch(match.Groups["assembly"].Value) ? Work.Router : null;
    }

    /// <summary>A frame's type and method, without its signature (the perf map's names are IL signatures).</summary>
    private static string MethodName(string frame) =>
        FrameMethod().Match(frame) is { Success: true } match ? match.Groups["method"].Value : frame.Trim()[..Math.Min(120, frame.Trim().Length)];

    /// <summary>A leaf frame's method, or for a native frame its symbol and library ("gc_heap::mark_object (libcoreclr.so)").</summary>
    private static string LeafName(string frame)
    {
        if (FrameMethod().Match(frame) is { Success: true } match)
        {
            return match.Groups["method"].Value;
        }

        // "ADDRESS SYMBOL+OFFSET (LIBRARY)": the symbol without its offset, and the library's file name.
        var parts = frame.Trim().Split(' ', 2);
        var rest = parts.Length > 1 ? parts[1] : parts[0];
        var at = rest.LastIndexOf(" (", StringComparison.Ordinal);
        var library = at >= 0 ? Path.GetFileName(rest[(at + 2)..].TrimEnd(')')) : "";
        var symbol = (at >= 0 ? rest[..at] : rest).Split('+')[0];
        return library.Length > 0 ? $"{symbol} ({library})" : symbol;
    }

    // A perf map name: "RETURN [ASSEMBLY] NAMESPACE.TYPE::METHOD(SIGNATURE)[TIER]", the return type's own assembly
    // tag written without a space ("[System.Runtime]System.Void").
    [GeneratedRegex(@"\[(?<assembly>[^\]\s]+)\] (?<method>[^\s(]+::[^\s(]+)\(")]
    private static partial Regex FrameMethod();

    [GeneratedRegex(@"^System\.Net\.Http\.DiagnosticsHandler(\+<SendAsyncCore>|::SendAsyncCore)")]
    private static partial Regex PassThrough();

    // Instruments and their SDK: measurements, aggregation, the Prometheus endpoint (and its per-request check), and
    // our metric code (with the tags a backend call carries).
    [GeneratedRegex(@"^(System\.Diagnostics\.Metrics\.|OpenTelemetry\.Metrics\.|OpenTelemetry\.Exporter\.Prometheus|Microsoft\.AspNetCore\.Builder\.PrometheusExporter|LlmRouter\.Common\.Telemetry\.(RouterMetrics|BackendMetrics|MembershipMetrics|BorderMetrics|MeshMeter|BackendCall|TelemetryBuckets|TelemetryHosting|DeferredMeasurements|IndexedCounter|SlotTags)\b)")]
    private static partial Regex MetricsMethod();

    // Spans and what carries their context: the Activity types, W3C propagation into a forward's or a backend call's
    // headers (HttpClient's diagnostics handler), ASP.NET Core's per-request activity, the SDK's sampling and
    // processing, the OTLP exporter and its batching thread, and our own span code.
    [GeneratedRegex(@"^(System\.Diagnostics\.(Activity|DiagnosticListener|DiagnosticSource|DistributedContextPropagator|W3CPropagator|LegacyPropagator)|System\.Net\.Http\.DiagnosticsHandler|Microsoft\.AspNetCore\.Hosting\.HostingApplicationDiagnostics|Microsoft\.AspNetCore\.Shared\.ActivityCreator|OpenTelemetry\.(Trace|Internal|Exporter\.OpenTelemetryProtocol|BaseProcessor|BatchExport|SimpleExport|CompositeProcessor|Sdk)|LlmRouter\.Common\.Telemetry\.(RouterSpans|GrpcClientSpans|MeshSampler|RequestTracing|TraceBudget|RpcMethod)\b|LlmRouter\.Common\.Hosting\.TracePropagation)")]
    private static partial Regex TracesMethod();

    [GeneratedRegex(@"^(Microsoft\.Extensions\.Logging\.|Serilog\.)")]
    private static partial Regex LoggingMethod();

    [GeneratedRegex(@"^(LlmRouter\.[A-Za-z.]+|llm-router-node|llm-router-integrator)$")]
    private static partial Regex RouterAssembly();

    private static async Task<(int Code, string Output)> RunAsync(string program, string[] arguments)
    {
        using var process = Process.Start(new ProcessStartInfo(program, arguments) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await output + await errors);
    }
}
