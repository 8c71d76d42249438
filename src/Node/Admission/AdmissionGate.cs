namespace LlmRouter.Node.Admission;

/// <summary>
/// Per-backend admission: at most <see cref="MaxConcurrency"/> requests run, at most
/// <see cref="MaxQueue"/> wait (first come, first served); beyond that a request is refused at once with
/// an estimate of when to retry. Limits can change on a configuration reload while requests are open.
/// </summary>
internal sealed class AdmissionGate(int maxConcurrency, int maxQueue, TimeProvider time)
{
    // Smoothing of the mean time a slot is held, used for the retry estimate.
    private const double HoldTimeSmoothing = 0.2;

    private readonly Lock _lock = new();
    private readonly LinkedList<TaskCompletionSource<bool>> _waiters = new();
    private int _running;
    private double _meanHoldSeconds = 1.0;

    public int MaxConcurrency { get; private set; } = maxConcurrency;

    public int MaxQueue { get; private set; } = maxQueue;

    public int Running
    {
        get
        {
            lock (_lock)
            {
                return _running;
            }
        }
    }

    public int Queued
    {
        get
        {
            lock (_lock)
            {
                return _waiters.Count;
            }
        }
    }

    /// <summary>Time until a queued request would likely run: the basis of the retry pushback.</summary>
    public TimeSpan EstimatedWait
    {
        get
        {
            lock (_lock)
            {
                return EstimatedWaitLocked();
            }
        }
    }

    public void Resize(int maxConcurrency, int maxQueue)
    {
        List<TaskCompletionSource<bool>> admitted = [];
        lock (_lock)
        {
            MaxConcurrency = maxConcurrency;
            MaxQueue = maxQueue;
            while (_running < MaxConcurrency && _waiters.First is { } first)
            {
                _waiters.RemoveFirst();
                _running++;
                admitted.Add(first.Value);
            }
        }

        admitted.ForEach(waiter => waiter.TrySetResult(true));
    }

    /// <summary>Waits for a slot. Throws <see cref="AdmissionRejectedException"/> when the queue is full.</summary>
    public async ValueTask<AdmissionLease> EnterAsync(CancellationToken cancellationToken)
    {
        TaskCompletionSource<bool> waiter;
        LinkedListNode<TaskCompletionSource<bool>> node;
        lock (_lock)
        {
            if (_running < MaxConcurrency && _waiters.Count == 0)
            {
                _running++;
                return new AdmissionLease(this, time.GetTimestamp());
            }

            if (_waiters.Count >= MaxQueue)
            {
                throw new AdmissionRejectedException(_running, _waiters.Count, EstimatedWaitLocked());
            }

            waiter = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            node = _waiters.AddLast(waiter);
        }

        using (cancellationToken.Register(() => Abandon(node)))
        {
            await waiter.Task.ConfigureAwait(false);
        }

        // A slot granted just as the caller cancelled is handed back before reporting the cancellation.
        if (cancellationToken.IsCancellationRequested)
        {
            Release(time.GetTimestamp());
            cancellationToken.ThrowIfCancellationRequested();
        }

        return new AdmissionLease(this, time.GetTimestamp());
    }

    internal void Release(long acquiredAt)
    {
        TaskCompletionSource<bool>? next = null;
        lock (_lock)
        {
            var held = time.GetElapsedTime(acquiredAt).TotalSeconds;
            _meanHoldSeconds += HoldTimeSmoothing * (held - _meanHoldSeconds);
            if (_running <= MaxConcurrency && _waiters.First is { } first)
            {
                // The slot passes straight to the next waiter: _running stays the same.
                _waiters.RemoveFirst();
                next = first.Value;
            }
            else
            {
                _running--;
            }
        }

        next?.TrySetResult(true);
    }

    private void Abandon(LinkedListNode<TaskCompletionSource<bool>> node)
    {
        bool removed;
        lock (_lock)
        {
            removed = node.List is not null;
            if (removed)
            {
                _waiters.Remove(node);
            }
        }

        if (removed)
        {
            node.Value.TrySetCanceled();
        }
    }

    private TimeSpan EstimatedWaitLocked() =>
        TimeSpan.FromSeconds(Math.Max(0.05, _meanHoldSeconds * (_waiters.Count + 1) / Math.Max(1, MaxConcurrency)));
}

/// <summary>A held slot; disposing it frees the slot (exactly once).</summary>
internal sealed class AdmissionLease(AdmissionGate gate, long acquiredAt) : IDisposable
{
    private int _released;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _released, 1) == 0)
        {
            gate.Release(acquiredAt);
        }
    }
}

/// <summary>The backend is full and so is its queue.</summary>
internal sealed class AdmissionRejectedException(int running, int queued, TimeSpan retryAfter)
    : Exception($"{running} requests running and {queued} queued")
{
    public TimeSpan RetryAfter { get; } = retryAfter;
}
