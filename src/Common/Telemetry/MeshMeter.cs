using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace LlmRouter.Common.Telemetry;

/// <summary>
/// The process's one meter and activity source (DESIGN.md section 14). Every measurement carries the
/// process's id as <c>llmrouter.node</c> (a bounded label: one value per member of the mesh), so a
/// dashboard reads nodes and integrators by name, and hosts that share a process (tests) stay apart.
/// It also drains the measurements the request path defers (<see cref="Deferred{T}"/>): every
/// <see cref="DrainInterval"/>, and at the start of every collection, from the callback of
/// <c>llmrouter.telemetry.deferred</c> (the SDK runs every observable instrument's callback before it reads any
/// instrument, so what a request measured before a scrape is in that scrape).
/// </summary>
public sealed class MeshMeter : IDisposable
{
    /// <summary>The name of the meter and of the activity source, as an exporter subscribes to them.</summary>
    public const string Name = "LlmRouter";

    /// <summary>The attribute that names the process on every measurement.</summary>
    public const string NodeAttribute = "llmrouter.node";

    /// <summary>How often deferred measurements are recorded between collections: what bounds their queues.</summary>
    public static readonly TimeSpan DrainInterval = TimeSpan.FromMilliseconds(100);

    private static readonly string? Version = typeof(MeshMeter).Assembly.GetName().Version?.ToString();

    private readonly ITimer _drains;
    private IDeferred[] _deferred = [];

    /// <summary>Spans of the router's own work: the routing decision, attempts, backend calls, admission.</summary>
    public static ActivitySource Activities { get; } = new(Name, Version);

    public MeshMeter(IMeterFactory factory, string self, TimeProvider time)
    {
        Meter = factory.Create(Name, Version);
        Node = new(NodeAttribute, self);
        Meter.CreateObservableGauge("llmrouter.telemetry.deferred", () => new Measurement<int>(Drain(), Node), "{measurement}",
            "Measurements the request path had left for recording (DeferredMeasurements) that this collection found waiting and recorded first");
        _drains = time.CreateTimer(_ => Drain(), null, DrainInterval, DrainInterval);
    }

    public Meter Meter { get; }

    /// <summary>The <c>llmrouter.node</c> attribute of this process.</summary>
    public KeyValuePair<string, object?> Node { get; }

    /// <summary>A histogram with its own bucket boundaries (the default ones stop at 10 s and start at 5 ms).</summary>
    public Histogram<T> Histogram<T>(string name, string unit, string description, IReadOnlyList<T> buckets)
        where T : struct =>
        Meter.CreateHistogram(name, unit, description, tags: null, advice: new InstrumentAdvice<T> { HistogramBucketBoundaries = buckets });

    /// <summary>A queue of measurements the request path hands over, recorded by <paramref name="record"/> when drained.</summary>
    internal Deferred<T> Defer<T>(Instrument gate, Action<T> record)
        where T : struct
    {
        var deferred = new Deferred<T>(gate, record);
        lock (_drains)
        {
            _deferred = [.. _deferred, deferred];
        }

        return deferred;
    }

    /// <summary>Records every deferred measurement waiting; returns how many there were.</summary>
    internal int Drain()
    {
        var drained = 0;
        foreach (var deferred in Volatile.Read(ref _deferred))
        {
            drained += deferred.Drain();
        }

        return drained;
    }

    public void Dispose()
    {
        _drains.Dispose();
        Drain();
    }
}
