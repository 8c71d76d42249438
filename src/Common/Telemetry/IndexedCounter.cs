using System.Diagnostics.Metrics;

namespace LlmRouter.Common.Telemetry;

/// <summary>
/// A counter the request path adds to at the price of one interlocked increment (issue 12's cost target). The
/// attribute sets are known up front (a few enums' product: hop, outcome, mode, status), so each is a slot of an
/// array, and an <see cref="ObservableCounter{T}"/> reads the slots when an exporter collects. Exported the same as
/// a <see cref="Counter{T}"/>: a monotonic sum per attribute set, a set appearing once it has counted something.
/// Why: the SDK's own counter looks its attribute set up on every add (measured at about 100 ns, and 20 more per
/// attribute; several times that in a busy node, where the lookup's tables fall out of the cache), while here the
/// SDK sees each set once per collection. Nothing is counted while no exporter listens.
/// </summary>
internal sealed class IndexedCounter
{
    private readonly long[] _counts;
    private readonly SlotTags _tags;
    private readonly ObservableCounter<long> _instrument;

    /// <param name="slots">How many attribute sets there are; <see cref="Add"/> takes an index below it.</param>
    /// <param name="tagsOf">The attributes of a slot (the process's node attribute among them), built once per slot, at its first collection.</param>
    public IndexedCounter(Meter meter, string name, string unit, string description, int slots, Func<int, KeyValuePair<string, object?>[]> tagsOf)
    {
        _counts = new long[slots];
        _tags = new SlotTags(slots, tagsOf);
        _instrument = meter.CreateObservableCounter(name, Observe, unit, description);
    }

    public void Add(int slot, long value = 1)
    {
        if (_instrument.Enabled)
        {
            Interlocked.Add(ref _counts[slot], value);
        }
    }

    private IEnumerable<Measurement<long>> Observe()
    {
        for (var slot = 0; slot < _counts.Length; slot++)
        {
            var count = Volatile.Read(ref _counts[slot]);
            if (count > 0)
            {
                yield return new Measurement<long>(count, _tags[slot]);
            }
        }
    }
}
