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

    [Fact]
    public void ManyRequestsAtOnce_TakeNoMoreThanTheBucketHolds()
    {
        var time = new FakeTimeProvider();
        var budget = new TraceBudget(1000, time);
        time.Advance(TimeSpan.FromMinutes(1));
        var taken = 0;
        using var go = new Barrier(8);

        var threads = Enumerable.Range(0, 8).Select(_ => new Thread(() =>
        {
            go.SignalAndWait();
            for (var i = 0; i < 5000; i++)
            {
                if (budget.TryTake())
                {
                    Interlocked.Increment(ref taken);
                }
            }
        })).ToList();
        threads.ForEach(thread => thread.Start());
        threads.ForEach(thread => thread.Join());

        // The clock stood still: one second's worth, exactly, out of 40,000 asked for at once.
        Assert.Equal(1000, taken);
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
