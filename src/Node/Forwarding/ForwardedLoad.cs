using System.Collections.Concurrent;

namespace LlmRouter.Node.Forwarding;

/// <summary>
/// Requests this node has forwarded to each remote backend and not yet finished. Added to the gossiped
/// load when scoring, so a burst of requests does not pile onto one idle peer before its next load record
/// arrives (no herd).
/// </summary>
internal sealed class ForwardedLoad
{
    private readonly ConcurrentDictionary<string, int> _open = new(StringComparer.Ordinal);

    public int Open(string backendKey) => _open.TryGetValue(backendKey, out var count) ? count : 0;

    public IDisposable Track(string backendKey)
    {
        _open.AddOrUpdate(backendKey, 1, (_, count) => count + 1);
        return new Handle(this, backendKey);
    }

    private void Release(string backendKey) => _open.AddOrUpdate(backendKey, 0, (_, count) => Math.Max(0, count - 1));

    private sealed class Handle(ForwardedLoad owner, string key) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                owner.Release(key);
            }
        }
    }
}
