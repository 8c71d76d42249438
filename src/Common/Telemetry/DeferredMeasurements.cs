using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace LlmRouter.Common.Telemetry;

/// <summary>
/// Measurements the request path hands over instead of recording them itself (issue 12's cost target): a request
/// enqueues what it measured, one struct, and <see cref="MeshMeter"/> records the queues into the SDK's instruments
/// every <see cref="MeshMeter.DrainInterval"/> and at the start of every collection. Why: recording a histogram
/// measurement means the SDK looks its attribute set up (hashing every key and value) and locks its point; in a
/// busy node those tables are out of the cache by the time the next request records, and eight such recordings a
/// request cost the node several microseconds of its own latency at concurrency 1. Recorded in a batch, the same
/// work runs with its tables in the cache, after the answer has gone out.
/// Every drain holds <see cref="MeshMeter"/>'s drain lock while it takes measurements off a queue and records
/// them, and a collection waits for it: so a measurement handed over before a collection began is in that
/// collection, never taken off its queue by a timer and recorded only after the collection read the instruments.
/// Nothing is queued while nothing listens to the queue's first instrument. The queue is bounded: past
/// <see cref="DeferredMeasurements.Limit"/> waiting, the request that finds it so records up to that many itself,
/// unless a drain is already running, so a starved timer costs speed, never unbounded memory.
/// What is lost: a measurement's exemplar (the SDK takes it from the span current where it is recorded, and the
/// mesh configures none), and, on a crash, what waited for the next drain.
/// </summary>
/// <typeparam name="T">What one request measured, as a value: its figures and what says which attributes they go under.</typeparam>
internal sealed class DeferredMeasurements<T> : IDeferredMeasurements
    where T : struct
{
    private readonly ConcurrentQueue<T> _waiting = new();
    private readonly Instrument _gate;
    private readonly Action<T> _record;
    private readonly Lock _drainLock;
    private int _count;

    /// <param name="gate">The instrument whose listeners decide whether anything is kept (the first one <paramref name="record"/> writes).</param>
    /// <param name="record">Records one measurement into the instruments; runs on the draining thread.</param>
    /// <param name="drainLock">The meter's drain lock, held by every drain (see the type's remarks).</param>
    public DeferredMeasurements(Instrument gate, Action<T> record, Lock drainLock)
    {
        _gate = gate;
        _record = record;
        _drainLock = drainLock;
    }

    public void Add(in T measurement)
    {
        if (!_gate.Enabled)
        {
            return;
        }

        _waiting.Enqueue(measurement);
        if (Interlocked.Increment(ref _count) > DeferredMeasurements.Limit && _drainLock.TryEnter())
        {
            try
            {
                Drain(DeferredMeasurements.Limit);
            }
            finally
            {
                _drainLock.Exit();
            }
        }
    }

    /// <summary>Records up to <paramref name="most"/> measurements waiting; returns how many. The caller holds the drain lock.</summary>
    public int Drain(int most = int.MaxValue)
    {
        var drained = 0;
        while (drained < most && _waiting.TryDequeue(out var measurement))
        {
            Interlocked.Decrement(ref _count);
            drained++;
            _record(measurement);
        }

        return drained;
    }
}

/// <summary>The bound shared by every queue of deferred measurements.</summary>
internal static class DeferredMeasurements
{
    /// <summary>How many may wait in one queue before a request records them itself.</summary>
    public const int Limit = 8192;
}

/// <summary>A queue of deferred measurements, as <see cref="MeshMeter"/> drains it.</summary>
internal interface IDeferredMeasurements
{
    int Drain(int most = int.MaxValue);
}
