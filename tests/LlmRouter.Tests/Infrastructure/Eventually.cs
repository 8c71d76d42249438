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
        while (!await condition())
        {
            if (clock.Elapsed > limit)
            {
                throw new TimeoutException($"{phase}: not reached within {limit.TotalSeconds:0.#}s; last seen: {await seen()}");
            }

            await Task.Delay(10);
        }
    }
}
