using LlmRouter.Common.Gossip;

namespace LlmRouter.Common.Membership;

/// <summary>Real time for the membership state machine: TimeProvider timers whose callbacks run on its executor.</summary>
internal sealed class TimerScheduler(TimeProvider time, Action<Action> post) : IMeshScheduler
{
    private readonly long _started = time.GetTimestamp();

    public TimeSpan Now => time.GetElapsedTime(_started);

    public IDisposable Schedule(TimeSpan delay, Action action)
    {
        var fired = 0;
        return time.CreateTimer(
            _ =>
            {
                if (Interlocked.Exchange(ref fired, 1) == 0)
                {
                    post(action);
                }
            },
            null,
            delay < TimeSpan.Zero ? TimeSpan.Zero : delay,
            Timeout.InfiniteTimeSpan);
    }
}
