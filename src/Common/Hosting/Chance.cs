namespace LlmRouter.Common.Hosting;

/// <summary>
/// The process's one source of chance (STYLE.md 7 and 18): a host's launch hands it to everything chance
/// decides (routing's tie breaks and power of two choices, backoff jitter, gossip's picks, simulated
/// faults), and tests hand in a fixed one. The only place the shared generator is named.
/// </summary>
public static class Chance
{
#pragma warning disable RS0030 // The composition root's one use of the shared generator.
    public static Func<double> System { get; } = Random.Shared.NextDouble;
#pragma warning restore RS0030
}
