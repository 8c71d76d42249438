using LlmRouter.V1;

namespace LlmRouter.Common.Gossip;

/// <summary>
/// Updates waiting to be piggybacked (memberlist's TransmitLimitedQueue). Each is sent at most
/// mult x ceil(log10(N+1)) times; the least sent and newest go first; a newer update about the same
/// subject replaces the older one, so stale news is never spread after fresh news.
/// </summary>
public sealed class TransmitQueue
{
    // Bytes protobuf adds around each update in a repeated field (tag and length).
    private const int FieldOverhead = 4;

    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private long _order;

    public int Count => _entries.Count;

    /// <param name="key">What the update is about, for example "member:a1" or "load:a1".</param>
    public void Enqueue(string key, SignedUpdate update) =>
        _entries[key] = new Entry(key, update, update.CalculateSize() + FieldOverhead, ++_order);

    /// <summary>Takes updates fitting in <paramref name="budget"/> bytes and counts one more send of each.</summary>
    public List<SignedUpdate> Take(int budget, int retransmitLimit)
    {
        var chosen = new List<SignedUpdate>();
        if (_entries.Count == 0)
        {
            return chosen;
        }

        foreach (var entry in _entries.Values.OrderBy(e => e.Transmits).ThenByDescending(e => e.Order).ToList())
        {
            if (entry.Size > budget)
            {
                continue;
            }

            budget -= entry.Size;
            chosen.Add(entry.Update);
            entry.Transmits++;
            if (entry.Transmits >= retransmitLimit)
            {
                _entries.Remove(entry.Key);
            }
        }

        return chosen;
    }

    private sealed class Entry(string key, SignedUpdate update, int size, long order)
    {
        public string Key { get; } = key;

        public SignedUpdate Update { get; } = update;

        public int Size { get; } = size;

        public long Order { get; } = order;

        public int Transmits { get; set; }
    }
}
