using LlmRouter.Node.Admission;
using Microsoft.Extensions.Time.Testing;

namespace LlmRouter.Tests.Node.Admission;

public sealed class AdmissionGateTests
{
    private readonly FakeTimeProvider _time = new();

    [Fact]
    public async Task EnterAsync_UnderLimit_AdmitsAtOnce()
    {
        var gate = new AdmissionGate(maxConcurrency: 2, maxQueue: 0, _time);

        using var first = await gate.EnterAsync(CancellationToken.None);
        using var second = await gate.EnterAsync(CancellationToken.None);

        Assert.Equal(2, gate.Running);
    }

    [Fact]
    public async Task EnterAsync_QueueFull_RejectsWithRetryEstimate()
    {
        var gate = new AdmissionGate(maxConcurrency: 1, maxQueue: 1, _time);
        using var running = await gate.EnterAsync(CancellationToken.None);
        var queued = gate.EnterAsync(CancellationToken.None);

        var rejected = await Assert.ThrowsAsync<AdmissionRejectedException>(() => gate.EnterAsync(CancellationToken.None).AsTask());

        Assert.Equal("1 requests running and 1 queued", rejected.Message);
        Assert.True(rejected.RetryAfter > TimeSpan.Zero);
        Assert.False(queued.IsCompleted);
    }

    [Fact]
    public async Task Release_HandsTheSlotToTheFirstWaiterInOrder()
    {
        var gate = new AdmissionGate(maxConcurrency: 1, maxQueue: 2, _time);
        var running = await gate.EnterAsync(CancellationToken.None);
        var first = gate.EnterAsync(CancellationToken.None).AsTask();
        var second = gate.EnterAsync(CancellationToken.None).AsTask();

        running.Dispose();
        var firstLease = await first;

        Assert.False(second.IsCompleted);
        Assert.Equal((1, 1), (gate.Running, gate.Queued));
        firstLease.Dispose();
        (await second).Dispose();
        Assert.Equal((0, 0), (gate.Running, gate.Queued));
    }

    [Fact]
    public async Task EnterAsync_WaiterCancelled_LeavesTheQueueAndSlotCountsStayTrue()
    {
        var gate = new AdmissionGate(maxConcurrency: 1, maxQueue: 2, _time);
        var running = await gate.EnterAsync(CancellationToken.None);
        using var cancel = new CancellationTokenSource();
        var waiting = gate.EnterAsync(cancel.Token).AsTask();

        cancel.Cancel();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        Assert.Equal(0, gate.Queued);
        running.Dispose();
        Assert.Equal(0, gate.Running);
    }

    [Fact]
    public async Task LeaseDisposedTwice_ReleasesOnce()
    {
        var gate = new AdmissionGate(maxConcurrency: 2, maxQueue: 0, _time);
        using var other = await gate.EnterAsync(CancellationToken.None);
        var lease = await gate.EnterAsync(CancellationToken.None);

        lease.Dispose();
        lease.Dispose();

        Assert.Equal(1, gate.Running);
    }

    [Fact]
    public async Task Resize_Larger_AdmitsWaiters()
    {
        var gate = new AdmissionGate(maxConcurrency: 1, maxQueue: 4, _time);
        using var running = await gate.EnterAsync(CancellationToken.None);
        var waiting = gate.EnterAsync(CancellationToken.None).AsTask();

        gate.Resize(maxConcurrency: 2, maxQueue: 4);

        using var admitted = await waiting;
        Assert.Equal(2, gate.Running);
    }

    [Fact]
    public async Task EstimatedWait_GrowsWithHoldTimeAndQueue()
    {
        var gate = new AdmissionGate(maxConcurrency: 1, maxQueue: 4, _time);
        for (var i = 0; i < 20; i++)
        {
            var lease = await gate.EnterAsync(CancellationToken.None);
            _time.Advance(TimeSpan.FromSeconds(4));
            lease.Dispose();
        }

        using var running = await gate.EnterAsync(CancellationToken.None);
        var idleQueue = gate.EstimatedWait;
        var queued = gate.EnterAsync(CancellationToken.None);

        Assert.InRange(idleQueue.TotalSeconds, 3.9, 4.0);
        Assert.InRange(gate.EstimatedWait.TotalSeconds, 7.8, 8.0);
        Assert.False(queued.IsCompleted);
    }
}
