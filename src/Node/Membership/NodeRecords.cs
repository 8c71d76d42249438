using LlmRouter.Common.Gossip;
using LlmRouter.Common.Membership;
using LlmRouter.Common.Resilience;
using LlmRouter.Common.Routing;
using LlmRouter.Node.Catalog;
using LlmRouter.V1;

namespace LlmRouter.Node.Membership;

/// <summary>
/// Publishes this node's own records in its pool: its models (before it joins, and on every reload) and
/// its load (often, rate-limited, with a time to live), with its backends' cooldowns.
/// </summary>
internal sealed class NodeRecords(
    NodeCatalog catalog,
    PoolSeat seat,
    SeatMemberships memberships,
    CopyBreakers breakers,
    TimeProvider time) : IHostedService, IDisposable
{
    private static readonly TimeSpan LoadCheckInterval = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan WarmWindow = TimeSpan.FromMinutes(5);

    private ITimer? _loadTimer;
    private string _lastLoad = "";
    private long _lastLoadPublished;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        // Registered before the memberships start: the join already carries the model record.
        memberships.Joining += (_, state) => state.PublishModels(ModelInfos.Of(catalog.Current));
        catalog.Changed += changed => seat.Membership?.Post(state => state.PublishModels(ModelInfos.Of(changed)));
        _loadTimer = time.CreateTimer(_ => seat.Membership?.Post(PublishLoadIfChanged), null, LoadCheckInterval, LoadCheckInterval);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        Dispose();
        return Task.CompletedTask;
    }

    public void Dispose() => _loadTimer?.Dispose();

    /// <summary>
    /// Publishes the load record when it changed, or before the last one goes stale; never more often than
    /// once per second per 32 members, so load gossip per member stays flat as the pool grows.
    /// </summary>
    private void PublishLoadIfChanged(SwimMembership membership)
    {
        var snapshot = catalog.Current;
        var loads = snapshot.Backends.Select(backend => WithCooldown(new BackendLoad
        {
            Backend = backend.Id,
            InFlight = (uint)backend.Admission.Running,
            Queued = (uint)backend.Admission.Queued,
            MaxConcurrency = (uint)backend.Admission.MaxConcurrency,
            TimeToFirstTokenMs = backend.Stats.TimeToFirstToken?.TotalMilliseconds ?? 0,
            TokensPerSecond = backend.Stats.TokensPerSecond ?? 0,
            ErrorRate = backend.Stats.ErrorRate,
            WarmModels = { WarmModels(backend) },
        }, breakers.CooldownUntil(RouteCandidate.CopyKey(snapshot.Node.Id, backend.Id)))).ToList();
        var fingerprint = string.Join(";", loads.Select(l => $"{l.Backend}:{l.InFlight}:{l.Queued}:{l.MaxConcurrency}:{l.WarmModels.Count}:{l.CooldownUntil}"));
        var sincePublished = time.GetElapsedTime(_lastLoadPublished);
        var spacing = LoadCheckInterval * Math.Max(1, Math.Ceiling(membership.Count / 32.0));
        var keepAlive = membership.Options.LoadRecordTimeToLive / 2;
        if (_lastLoadPublished != 0 && sincePublished < spacing)
        {
            return;
        }

        if (_lastLoadPublished == 0 || fingerprint != _lastLoad || sincePublished >= keepAlive)
        {
            membership.PublishLoad(loads, time.GetUtcNow());
            _lastLoad = fingerprint;
            _lastLoadPublished = time.GetTimestamp();
        }
    }

    private static BackendLoad WithCooldown(BackendLoad load, DateTimeOffset? until)
    {
        if (until is { } end)
        {
            load.CooldownUntil = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(end);
        }

        return load;
    }

    /// <summary>A backend that answered within the warm window keeps its models loaded (for local servers).</summary>
    private IEnumerable<string> WarmModels(Backends.Backend backend) =>
        backend.Stats.LastServedTimestamp != 0 && time.GetElapsedTime(backend.Stats.LastServedTimestamp) < WarmWindow
            ? backend.Config.Models.Select(m => m.Id)
            : [];
}
