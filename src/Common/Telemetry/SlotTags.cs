namespace LlmRouter.Common.Telemetry;

/// <summary>
/// The attribute sets of an instrument whose sets are known up front (a few enums' product), each under its
/// index, its slot: built once per slot, when first asked for, so the request path names a set by a number
/// and never builds or hashes one. Shared by <see cref="IndexedCounter"/> and the deferred histograms of
/// <see cref="RouterMetrics"/>.
/// </summary>
internal sealed class SlotTags(int slots, Func<int, KeyValuePair<string, object?>[]> tagsOf)
{
    private readonly KeyValuePair<string, object?>[]?[] _tags = new KeyValuePair<string, object?>[]?[slots];

    public int Count => _tags.Length;

    // Two threads may build one slot's set at once; either result is the same set.
    public KeyValuePair<string, object?>[] this[int slot] => _tags[slot] ??= tagsOf(slot);
}

/// <summary>A value measured under one of a histogram's fixed attribute sets (its <see cref="SlotTags"/> slot).</summary>
internal readonly record struct SlotMeasurement(int Slot, double Value);
