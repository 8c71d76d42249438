using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace LlmRouter.Common.Telemetry;

/// <summary>
/// The process's one meter and activity source (DESIGN.md section 14). Every measurement carries the
/// process's id as <c>llmrouter.node</c> (a bounded label: one value per member of the mesh), so a
/// dashboard reads nodes and integrators by name, and hosts that share a process (tests) stay apart.
/// It also drains the measurements the request path defers (<see cref="DeferredMeasurements{T}"/>): every
/// <see cref="DrainInterval"/>, and at the start of every collection, from the callback of
/// <c>llmrouter.telemetry.drain</c>, an instrument that reports nothing: the SDK runs every observable instrument's
/// callback before it reads any instrument, so what a request measured before a scrape is in that scrape.
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

    private readonly ITimer _drainTimer;

    // Held by every drain while it takes measurements off a queue and records them; a collection waits for it, the
    // timer and an overflowing request do not (DeferredMeasurements).
    private readonly Lock _drainLock = new();
    private IDeferredMeasurements[] _deferred = [];

    /// <summary>Spans of the router's own work: the routing decision, attempts, backend calls, admission.</summary>
    public static ActivitySource Activities { get; } = new(Name, Version);

    public MeshMeter(IMeterFactory factory, string self, TimeProvider time)
    {
        Meter = factory.Create(Name, Version);
        Node = new(NodeAttribute, self);
        Meter.CreateObservableGauge("llmrouter.telemetry.drain", DrainForCollection, "{measurement}",
            "Reports nothing: its callback, run at the start of every collection, records what the request path deferred");
        _drainTimer = time.CreateTimer(_ => DrainUnlessDraining(), null, DrainInterval, DrainInterval);
    }

    public Meter Meter { get; }

    /// <summary>The <c>llmrouter.node</c> attribute of this process.</summary>
    public KeyValuePair<string, object?> Node { get; }

    /// <summary>A histogram with its own bucket boundaries (the default ones stop at 10 s and start at 5 ms).</summary>
    public Histogram<T> Histogram<T>(string name, string unit, string description, IReadOnlyList<T> buckets)
        where T : struct =>
        Meter.CreateHistogram(name, unit, description, tags: null, advice: new InstrumentAdvice<T> { HistogramBucketBoundaries = buckets });

    /// <summary>A queue of measurements the request path hands over, recorded by <paramref name="record"/> when drained.</summary>
    internal DeferredMeasurements<T> Defer<T>(Instrument gate, Action<T> record)
        where T : struct
    {
        var deferred = new DeferredMeasurements<T>(gate, record, _drainLock);
        lock (_drainLock)
        {
            _deferred = [.. _deferred, deferred];
        }

        return deferred;
    }

    /// <summary>Records every deferred measurement waiting, after any drain already running; returns how many it recorded.</summary>
    internal int Drain()
    {
        lock (_drainLock)
        {
            return DrainHeld();
        }
    }

    private IEnumerable<Measurement<int>> DrainForCollection()
    {
        Drain();
        return [];
    }

    // The timer skips a round while a collection drains: that drain records what the timer would have.
    private void DrainUnlessDraining()
    {
        if (!_drainLock.TryEnter())
        {
            return;
        }

        try
        {
            DrainHeld();
        }
        finally
        {
            _drainLock.Exit();
        }
    }

    // The caller holds the drain lock.
    private int DrainHeld()
    {
        var drained = 0;
        foreach (var deferred in _deferred)
        {
            drained += deferred.Drain();
        }

        return drained;
    }

    public void Dispose() => _drainTimer.Dispose();
}
