namespace LlmRouter.Node.Backends.Simulated;

/// <summary>
/// What a simulated backend has generated. Tests read these to prove that cancellation stops generation
/// at once: <see cref="TokensAfterCancellation"/> must stay zero.
/// </summary>
internal sealed class SimulationCounters
{
    private long _tokensProduced;
    private long _tokensAfterCancellation;
    private int _activeGenerations;
    private long _cancelledGenerations;
    private long _startedGenerations;

    public long TokensProduced => Interlocked.Read(ref _tokensProduced);

    public long TokensAfterCancellation => Interlocked.Read(ref _tokensAfterCancellation);

    public int ActiveGenerations => Volatile.Read(ref _activeGenerations);

    public long CancelledGenerations => Interlocked.Read(ref _cancelledGenerations);

    public long StartedGenerations => Interlocked.Read(ref _startedGenerations);

    public void GenerationStarted()
    {
        Interlocked.Increment(ref _startedGenerations);
        Interlocked.Increment(ref _activeGenerations);
    }

    public void GenerationEnded(bool cancelled)
    {
        Interlocked.Decrement(ref _activeGenerations);
        if (cancelled)
        {
            Interlocked.Increment(ref _cancelledGenerations);
        }
    }

    public void TokenProduced(bool afterCancellation)
    {
        Interlocked.Increment(ref _tokensProduced);
        if (afterCancellation)
        {
            Interlocked.Increment(ref _tokensAfterCancellation);
        }
    }
}
