namespace LlmRouter.Benchmarks;

/// <summary>One measured figure, its bare reference from the same run where there is one, and the target it answers.</summary>
internal sealed record Finding(string Area, string Measure, string Value, string Reference, string Target, bool? Met);

/// <summary>
/// The figures every benchmark of a run collects, printed at the end as one markdown table (the form
/// docs/benchmarks.md keeps), with the machine and date.
/// </summary>
internal static class Findings
{
    private static readonly List<Finding> All = [];

    public static void Add(string area, string measure, string value, string reference = "", string target = "", bool? met = null) =>
        All.Add(new Finding(area, measure, value, reference, target, met));

    public static void Print()
    {
        if (All.Count == 0)
        {
            return;
        }

        Console.WriteLine();
        Console.WriteLine($"Summary: {Machine()}, .NET {Environment.Version}, {TimeProvider.System.GetUtcNow():yyyy-MM-dd}");
        Console.WriteLine();
        Console.WriteLine("| area | measure | value | bare reference (same run) | target | met |");
        Console.WriteLine("|---|---|---:|---:|---|---|");
        foreach (var f in All)
        {
            Console.WriteLine($"| {f.Area} | {f.Measure} | {f.Value} | {f.Reference} | {f.Target} | {f.Met switch { true => "yes", false => "**no**", null => "" }} |");
        }
    }

    /// <summary>Cores and model name from /proc/cpuinfo, memory from /proc/meminfo (Linux), else what .NET knows.</summary>
    private static string Machine()
    {
        var cpu = "";
        var memory = "";
        try
        {
            cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "";
            var kib = File.ReadLines("/proc/meminfo").First(l => l.StartsWith("MemTotal:", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1];
            memory = $", {double.Parse(kib, System.Globalization.CultureInfo.InvariantCulture) / 1024 / 1024:0} GiB";
        }
        catch (IOException)
        {
            // Not Linux: cores only.
        }

        return $"{Environment.ProcessorCount} cores {cpu}{memory}, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}";
    }
}
