namespace LlmRouter.Simulation;

/// <summary>
/// Discrete-event virtual time: actions run in time order (ties in scheduling order) on one thread, so a
/// simulation with a fixed seed replays exactly.
/// </summary>
public sealed class VirtualClock
{
    private readonly PriorityQueue<Scheduled, (TimeSpan At, long Order)> _queue = new();
    private long _order;

    public TimeSpan Now { get; private set; }

    public long EventsRun { get; private set; }

    public Scheduled Schedule(TimeSpan delay, Action action)
    {
        var scheduled = new Scheduled(action);
        _queue.Enqueue(scheduled, (Now + (delay < TimeSpan.Zero ? TimeSpan.Zero : delay), ++_order));
        return scheduled;
    }

    /// <summary>Runs every event due up to <paramref name="until"/>, then sets the clock there.</summary>
    public void RunUntil(TimeSpan until)
    {
        while (_queue.TryPeek(out _, out var key) && key.At <= until)
        {
            var next = _queue.Dequeue();
            Now = key.At;
            if (!next.Cancelled)
            {
                EventsRun++;
                next.Action();
            }
        }

        Now = until;
    }

    public void RunFor(TimeSpan duration) => RunUntil(Now + duration);

    /// <summary>Runs until the condition holds (checked after each step) or the bound passes; returns the time it held.</summary>
    public TimeSpan? RunUntil(Func<bool> condition, TimeSpan bound, TimeSpan step)
    {
        var limit = Now + bound;
        while (Now < limit)
        {
            if (condition())
            {
                return Now;
            }

            RunUntil(Now + step < limit ? Now + step : limit);
        }

        return condition() ? Now : null;
    }

    public sealed class Scheduled(Action action) : IDisposable
    {
        public Action Action { get; } = action;

        public bool Cancelled { get; private set; }

        public void Dispose() => Cancelled = true;
    }
}
