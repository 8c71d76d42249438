namespace LlmRouter.Common.Routing;

/// <summary>
/// One model on one of this host's own backends, as routing scores it: the backend's live gauges, read per
/// request. The host that owns the backend implements it (a node; an integrator has none).
/// </summary>
internal interface ILocalTarget
{
    /// <summary>The backend's measured time to first token; null before it has answered.</summary>
    TimeSpan? TimeToFirstToken { get; }

    /// <summary>Requests running on the backend now.</summary>
    int Running { get; }

    /// <summary>Requests waiting for a slot.</summary>
    int Queued { get; }

    int MaxConcurrency { get; }

    /// <summary>How long a request that has to queue is expected to wait.</summary>
    TimeSpan EstimatedWait { get; }

    /// <summary>Timestamp (<see cref="TimeProvider.GetTimestamp"/>) of the last answer it served; 0 when none.</summary>
    long LastServedTimestamp { get; }
}
