namespace LlmRouter.Common.Gossip;

/// <summary>
/// Lifeguard's local health multiplier (LHM): a member that misses nacks or has to refute suspicions is
/// probably slow itself, so it stretches its own probe intervals and timeouts instead of accusing others.
/// </summary>
public sealed class Awareness(int maxMultiplier)
{
    public int Score { get; private set; }

    public void Apply(int delta) => Score = Math.Clamp(Score + delta, 0, maxMultiplier - 1);

    public TimeSpan Scale(TimeSpan value) => value * (Score + 1);
}
