using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace LlmRouter.Common.Telemetry;

/// <summary>
/// The process's one meter and activity source (DESIGN.md section 14). Every measurement carries the
/// process's id as <c>llmrouter.node</c> (a bounded label: one value per member of the mesh), so a
/// dashboard reads nodes and integrators by name, and hosts that share a process (tests) stay apart.
/// </summary>
public sealed class MeshMeter
{
    /// <summary>The name of the meter and of the activity source, as an exporter subscribes to them.</summary>
    public const string Name = "LlmRouter";

    /// <summary>The attribute that names the process on every measurement.</summary>
    public const string NodeAttribute = "llmrouter.node";

    private static readonly string? Version = typeof(MeshMeter).Assembly.GetName().Version?.ToString();

    /// <summary>Spans of the router's own work: the routing decision, attempts, backend calls, admission.</summary>
    public static ActivitySource Activities { get; } = new(Name, Version);

    public MeshMeter(IMeterFactory factory, string self)
    {
        Meter = factory.Create(Name, Version);
        Node = new(NodeAttribute, self);
    }

    public Meter Meter { get; }

    /// <summary>The <c>llmrouter.node</c> attribute of this process.</summary>
    public KeyValuePair<string, object?> Node { get; }

    /// <summary>A histogram with its own bucket boundaries (the default ones stop at 10 s and start at 5 ms).</summary>
    public Histogram<T> Histogram<T>(string name, string unit, string description, IReadOnlyList<T> buckets)
        where T : struct =>
        Meter.CreateHistogram(name, unit, description, tags: null, advice: new InstrumentAdvice<T> { HistogramBucketBoundaries = buckets });
}
