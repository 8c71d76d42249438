using System.Diagnostics;

namespace LlmRouter.Tests.Infrastructure;

/// <summary>
/// Waits for a condition that another thread or process makes true, with a bound. On timeout it fails with
/// the phase's name and what was last seen, so a red test says where it stopped.
/// </summary>
internal static class Eventually
{
    public static Task WaitUntil(Func<bool> condition, string phase, Func<string> seen, TimeSpan? bound = null) =>
        WaitUntil(() => Task.FromResult(condition()), phase, () => Task.FromResult(seen()), bound);

    public static async Task WaitUntil(Func<Task<bool>> condition, string phase, Func<Task<string>> seen, TimeSpan? bound = null)
    {
        var limit = bound ?? TimeSpan.FromSeconds(10);
        var clock = Stopwatch.StartNew();
        // Asked often at first (most events come quickly), then every 200 ms, so a condition that calls a node does not load it.
        var pause = TimeSpan.FromMilliseconds(10);
        while (!await condition())
        {
            if (clock.Elapsed > limit)
            {
                throw new TimeoutException($"{phase}: not reached within {limit.TotalSeconds:0.#}s; last seen: {await seen()}");
            }

            await Task.Delay(pause);
            pause = TimeSpan.FromTicks(Math.Min(pause.Ticks * 2, TimeSpan.FromMilliseconds(200).Ticks));
        }
    }

    /// <summary>A condition asked of a node over gRPC: a call that fails (the node not up yet, or gone) reads as "not yet".</summary>
    public static Func<Task<bool>> Answered(Func<Task<bool>> condition) => async () =>
    {
        try
        {
            return await condition();
        }
        catch (Grpc.Core.RpcException)
        {
            return false;
        }
    };
}
