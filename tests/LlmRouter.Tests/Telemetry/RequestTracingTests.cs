using LlmRouter.Common.Telemetry;
using Microsoft.Extensions.Time.Testing;

namespace LlmRouter.Tests.Telemetry;

/// <summary>
/// Which entering requests are traced: the ratio's share of those without a trace of their own, every one whose
/// client samples it, and of both at most max_traces_per_second a second whatever the load (a bucket holding one
/// second's worth, refilled continuously).
/// </summary>
public sealed class RequestTracingTests
{
    [Theory]
    [InlineData(10)]
    [InlineData(100)]
    [InlineData(1000)]
    public void AtAnyLoad_NoMoreThanTheLimitASecond_AndEveryRequestBelowIt(int perSecond)
    {
        var time = new FakeTimeProvider();
        var tracing = new RequestTracing(true, 1.0, new TraceBudget(perSecond, time), () => 0.5);

        // Twenty seconds at ten times the limit, the requests spread evenly over each second: after the first second's
        // burst, the limit's worth a second.
        var started = new List<int>();
        for (var second = 0; second < 20; second++)
        {
            var count = 0;
            for (var i = 0; i < perSecond * 10; i++)
            {
                time.Advance(TimeSpan.FromSeconds(1.0 / (perSecond * 10)));
                count += tracing.StartsTrace() ? 1 : 0;
            }

            started.Add(count);
        }

        Assert.All(started.Skip(1), count => Assert.InRange(count, perSecond - 1, perSecond + 1));
        Assert.InRange(started.Sum(), 20 * perSecond, (21 * perSecond) + 1);

        // Below the limit, after a quiet second: every request.
        time.Advance(TimeSpan.FromSeconds(1));
        for (var i = 0; i < perSecond / 2; i++)
        {
            time.Advance(TimeSpan.FromSeconds(1.0 / perSecond));
            Assert.True(tracing.StartsTrace(), $"request {i} of {perSecond / 2} in a second below the limit of {perSecond} was not traced");
        }
    }

    [Fact]
    public void AfterAQuietSpell_ABurstOfOneSecondsWorthIsTracedWhole_NoMore()
    {
        var time = new FakeTimeProvider();
        var tracing = new RequestTracing(true, 1.0, new TraceBudget(50, time), () => 0.5);
        time.Advance(TimeSpan.FromMinutes(5));

        var burst = Enumerable.Range(0, 200).Count(_ => tracing.StartsTrace());

        Assert.Equal(50, burst);
    }

    [Theory]
    [InlineData(100)]
    [InlineData(1000)]
    [InlineData(50_000)]
    public void ManyRequestsAtOnce_TakeWhatTheBucketHeldAndRefilled_NoMore(int perSecond)
    {
        // A clock that moves on by a microsecond at every reading and takes no lock, so eight threads race on the bucket
        // (a FakeTimeProvider's lock would line them up).
        var time = new RacingClock(microsecondsPerReading: 1);
        var budget = new TraceBudget(perSecond, time);
        var taken = 0;
        using var go = new Barrier(8);
        var threads = Enumerable.Range(0, 8).Select(_ => new Thread(() =>
        {
            go.SignalAndWait();
            for (var i = 0; i < 50_000; i++)
            {
                if (budget.TryTake())
                {
                    Interlocked.Increment(ref taken);
                }
            }
        })).ToList();
        threads.ForEach(thread => thread.Start());
        threads.ForEach(thread => thread.Join());

        // 400,000 asked for over 0.4 s of the clock: far more than the bucket held (a second's worth) and refilled (at the
        // rate, over the time the clock moved). That many were taken, give or take the one a reading in flight holds.
        var supply = (1 + time.Elapsed.TotalSeconds) * perSecond;
        Assert.InRange(taken, (int)Math.Floor(supply) - 2, (int)Math.Ceiling(supply) + 1);
    }

    [Fact]
    public void ARateThatDoesNotDivideTheClock_IsKeptExactly()
    {
        // 300,000 a second on a 10 MHz clock: an interval of 33.3 ticks, which rounded down would let 303,030 through.
        var time = new FakeTimeProvider();
        var budget = new TraceBudget(300_000, time);
        time.Advance(TimeSpan.FromMinutes(1));
        var taken = 0;
        for (var step = 0; step < 1000; step++)
        {
            time.Advance(TimeSpan.FromMilliseconds(1));
            while (budget.TryTake())
            {
                taken++;
            }
        }

        // A second's burst (taken in the first millisecond, the bucket full), then 999 ms of refill at 300 a millisecond.
        Assert.InRange(taken, 599_699, 599_701);
    }

    /// <summary>A clock read by many threads at once that moves on at every reading, with no lock.</summary>
    private sealed class RacingClock(int microsecondsPerReading) : TimeProvider
    {
        private long _ticks;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public TimeSpan Elapsed => TimeSpan.FromTicks(Interlocked.Read(ref _ticks));

        public override long GetTimestamp() => Interlocked.Add(ref _ticks, microsecondsPerReading * TimeSpan.TicksPerMicrosecond);
    }

    [Fact]
    public void NoLimit_TheRatioAlone()
    {
        var time = new FakeTimeProvider();
        var draws = new Queue<double>([0.05, 0.5, 0.09, 0.1, 0.95]);
        var tracing = new RequestTracing(true, 0.1, new TraceBudget(0, time), () => draws.Dequeue());

        Assert.Equal([true, false, true, false, false], Enumerable.Range(0, 5).Select(_ => tracing.StartsTrace()));
    }

    [Fact]
    public void TheLimitCountsOnlyTheRequestsTheRatioPicked()
    {
        var time = new FakeTimeProvider();
        var draw = 0;
        // Every other request is picked by the ratio (0.5).
        var tracing = new RequestTracing(true, 0.5, new TraceBudget(10, time), () => draw++ % 2 == 0 ? 0.1 : 0.9);

        var traced = Enumerable.Range(0, 20).Count(_ => tracing.StartsTrace());

        Assert.Equal(10, traced);
    }

    [Fact]
    public void ClientsSampledCalls_FollowedWhateverTheRatio_WithinTheSameLimit()
    {
        var time = new FakeTimeProvider();
        var tracing = new RequestTracing(true, 0.0, new TraceBudget(5, time), () => 0.5);

        Assert.Equal(5, Enumerable.Range(0, 20).Count(_ => tracing.FollowsClient()));
        Assert.False(tracing.StartsTrace());
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(5, Enumerable.Range(0, 20).Count(_ => tracing.FollowsClient() || tracing.StartsTrace()));
    }

    [Fact]
    public void NothingExported_NoTraceStarts()
    {
        var tracing = new RequestTracing(false, 1.0, new TraceBudget(0, new FakeTimeProvider()), () => 0.0);

        Assert.False(tracing.StartsTrace());
        Assert.False(tracing.FollowsClient());
    }
}
