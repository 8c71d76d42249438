using System.Collections.Concurrent;

namespace LlmRouter.Common.Forwarding;

/// <summary>
/// Requests this node has forwarded to each remote backend and not yet finished. Added to the gossiped
/// load when scoring, so a burst of requests does not pile onto one idle peer before its next load record
/// arrives (no herd).
/// </summary>
internal sealed class ForwardedLoad
{
    private readonly ConcurrentDictionary<string, Counter> _open = new(StringComparer.Ordinal);

    /// <summary>
    /// The live count of one backend. Candidates hold theirs from when they are built, so ranking a request
    /// reads a field per candidate instead of looking up its key. Counters are kept for the process's life.
    /// </summary>
    public Counter For(string backendKey) => _open.GetOrAdd(backendKey, static _ => new Counter());

    public int Open(string backendKey) => _open.TryGetValue(backendKey, out var counter) ? counter.Value : 0;

    public IDisposable Track(string backendKey)
    {
        var counter = For(backendKey);
        Interlocked.Increment(ref counter.Open);
        return new Handle(counter);
    }

    /// <summary>Requests forwarded to one backend and not yet finished.</summary>
    internal sealed class Counter
    {
        internal int Open;

        public int Value => Volatile.Read(ref Open);
    }

    private sealed class Handle(Counter counter) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                Interlocked.Decrement(ref counter.Open);
            }
        }
    }
}
