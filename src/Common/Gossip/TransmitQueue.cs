using LlmRouter.V1;

namespace LlmRouter.Common.Gossip;

/// <summary>
/// Updates waiting to be piggybacked (memberlist's TransmitLimitedQueue). Each is sent at most
/// mult x ceil(log10(N+1)) times; the least sent and newest go first; a newer update about the same
/// subject replaces the older one, so stale news is never spread after fresh news.
/// </summary>
/// <remarks>
/// The updates are kept in that order (a sorted set, as memberlist keeps a B-tree), so taking a message's
/// worth walks only from the front, and an update that is sent moves to its new place: nothing is sorted
/// per message.
/// </remarks>
public sealed class TransmitQueue
{
    // Bytes protobuf adds around each update in a repeated field (tag and length).
    private const int FieldOverhead = 4;

    // No signed update is smaller than its signature (64 bytes for ECDSA P-256) and the framing.
    private const int SmallestUpdate = 64 + FieldOverhead;

    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly SortedSet<Entry> _order = new(SendOrder.Instance);
    private long _enqueued;

    public int Count => _entries.Count;

    /// <param name="key">What the update is about, for example "member:a1" or "load:a1".</param>
    public void Enqueue(string key, SignedUpdate update)
    {
        if (_entries.Remove(key, out var replaced))
        {
            _order.Remove(replaced);
        }

        var entry = new Entry(key, update, update.CalculateSize() + FieldOverhead, ++_enqueued);
        _entries[key] = entry;
        _order.Add(entry);
    }

    /// <summary>Takes updates fitting in <paramref name="budget"/> bytes and counts one more send of each.</summary>
    public List<SignedUpdate> Take(int budget, int retransmitLimit)
    {
        var chosen = new List<SignedUpdate>();
        List<Entry>? sent = null;
        foreach (var entry in _order)
        {
            if (budget < SmallestUpdate)
            {
                break;
            }

            if (entry.Size > budget)
            {
                continue;
            }

            budget -= entry.Size;
            chosen.Add(entry.Update);
            (sent ??= []).Add(entry);
        }

        foreach (var entry in sent ?? [])
        {
            // Its place depends on its send count: out of the set while that changes, back in at its new place.
            _order.Remove(entry);
            entry.Transmits++;
            if (entry.Transmits >= retransmitLimit)
            {
                _entries.Remove(entry.Key);
            }
            else
            {
                _order.Add(entry);
            }
        }

        return chosen;
    }

    private sealed class Entry(string key, SignedUpdate update, int size, long enqueued)
    {
        public string Key { get; } = key;

        public SignedUpdate Update { get; } = update;

        public int Size { get; } = size;

        /// <summary>Unique and rising: the newer an update, the higher.</summary>
        public long Enqueued { get; } = enqueued;

        public int Transmits { get; set; }
    }

    /// <summary>Fewest sends first, then newest first; never equal for two entries (enqueue numbers are unique).</summary>
    private sealed class SendOrder : IComparer<Entry>
    {
        public static SendOrder Instance { get; } = new();

        public int Compare(Entry? x, Entry? y)
        {
            if (ReferenceEquals(x, y))
            {
                return 0;
            }

            var byTransmits = x!.Transmits.CompareTo(y!.Transmits);
            return byTransmits != 0 ? byTransmits : y.Enqueued.CompareTo(x.Enqueued);
        }
    }
}
