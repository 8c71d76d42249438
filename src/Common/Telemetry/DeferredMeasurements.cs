using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace LlmRouter.Common.Telemetry;

/// <summary>
/// Measurements the request path hands over instead of recording them itself (issue 12's cost target): a request
/// enqueues what it measured, one struct, and <see cref="MeshMeter"/> records the queue into the SDK's instruments
/// on a timer and at the start of every collection, so an export never misses one. Why: recording a histogram
/// measurement means the SDK looks its attribute set up (hashing every key and value) and locks its point; in a
/// busy node those tables are out of the cache by the time the next request records, and eight such recordings a
/// request cost the node several microseconds of its own latency at concurrency 1. Recorded in a batch, the same
/// work runs with its tables in the cache, after the answer has gone out.
/// Nothing is queued while no exporter listens to <see cref="Gate"/>. The queue is bounded: past
/// <see cref="Limit"/> waiting, a request records its own measurement (and those before it), so a stalled
/// timer costs speed, never memory or measurements.
/// What is lost: a measurement's exemplar (the SDK takes it from the span current where it is recorded, and the
/// mesh configures none), and, on a crash, what waited for the next drain.
/// </summary>
/// <typeparam name="T">What one request measured, as a value: its values and the attributes (or their slots) they go under.</typeparam>
internal sealed class Deferred<T> : IDeferred
    where T : struct
{
    /// <summary>How many may wait before a request records them itself.</summary>
    public const int Limit = 8192;

    private readonly ConcurrentQueue<T> _waiting = new();
    private readonly Action<T> _record;
    private int _count;

    /// <param name="gate">The instrument whose listeners decide whether anything is kept (the first one <paramref name="record"/> writes).</param>
    /// <param name="record">Records one measurement into the instruments; runs on the draining thread.</param>
    public Deferred(Instrument gate, Action<T> record)
    {
        Gate = gate;
        _record = record;
    }

    public Instrument Gate { get; }

    public void Add(in T measurement)
    {
        if (!Gate.Enabled)
        {
            return;
        }

        _waiting.Enqueue(measurement);
        if (Interlocked.Increment(ref _count) > Limit)
        {
            Drain();
        }
    }

    /// <summary>Records every measurement waiting; returns how many there were.</summary>
    public int Drain()
    {
        var drained = 0;
        while (_waiting.TryDequeue(out var measurement))
        {
            Interlocked.Decrement(ref _count);
            drained++;
            _record(measurement);
        }

        return drained;
    }
}

/// <summary>A queue of deferred measurements, as <see cref="MeshMeter"/> drains it.</summary>
internal interface IDeferred
{
    int Drain();
}
