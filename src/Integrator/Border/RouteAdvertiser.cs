using Google.Protobuf;
using LlmRouter.Common.Gossip;
using LlmRouter.Common.Membership;
using LlmRouter.Integrator.Hosting;
using LlmRouter.V1;

namespace LlmRouter.Integrator.Border;

/// <summary>
/// Keeps every pool's route record current: recomputes what lies behind each border every second and
/// publishes a new version when it changed (a model gone from behind the border is withdrawn by the next
/// version), or before the last one expires. The time to live bounds how long a route outlives an
/// integrator that stops renewing it; a crashed integrator is also declared dead by its pool.
/// </summary>
internal sealed partial class RouteAdvertiser(IntegratorRouterHost host, SeatMemberships memberships, IntegratorLaunch launch, Common.Telemetry.BorderMetrics metrics, ILogger<RouteAdvertiser> logger)
    : IHostedService, IDisposable
{
    public static readonly TimeSpan TimeToLive = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan CheckInterval = TimeSpan.FromSeconds(1);

    private readonly Dictionary<string, (ByteString Fingerprint, long PublishedAt, int Count)> _published = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    // The routes last published into each pool, by model and path: what a new set began and ended.
    private readonly Dictionary<string, HashSet<string>> _advertised = new(StringComparer.Ordinal);
    private ITimer? _timer;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _timer = launch.Time.CreateTimer(_ => Refresh(), null, TimeSpan.Zero, CheckInterval);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _timer?.Dispose();
        return Task.CompletedTask;
    }

    public void Dispose() => _timer?.Dispose();

    /// <summary>Recomputes and, where changed or due, republishes the routes of every pool.</summary>
    internal void Refresh()
    {
        if (!memberships.Started)
        {
            return;
        }

        lock (_gate)
        {
            var views = host.Seats.ToDictionary(seat => seat.Name, seat => seat.Snapshot.Members, StringComparer.Ordinal);
            var now = launch.Time.GetUtcNow();
            foreach (var pool in host.Seats)
            {
                var routes = BorderRoutes.Into(host.Id, pool.Name, views, launch.Config.Export, now);
                var record = new RouteRecord();
                record.Routes.Add(routes);
                var fingerprint = record.ToByteString();
                if (_published.TryGetValue(pool.Name, out var last)
                    && last.Fingerprint.Equals(fingerprint)
                    && launch.Time.GetElapsedTime(last.PublishedAt) < TimeToLive / 3)
                {
                    continue;
                }

                pool.Membership!.Post(state => state.PublishRoutes(routes, TimeToLive));
                Count(pool.Name, routes);
                if (last.Fingerprint is null || last.Count != routes.Count)
                {
                    LogRoutes(logger, pool.Name, routes.Count, string.Join(", ", routes.Select(r => $"{r.Model.Id} via {string.Join(">", r.Pools)} (free {r.FreeCapacity})")));
                }

                _published[pool.Name] = (fingerprint, launch.Time.GetTimestamp(), routes.Count);
            }
        }
    }

    /// <summary>The routes published into a pool against the ones before: how many began and how many ended.</summary>
    private void Count(string pool, List<ModelRoute> routes)
    {
        var now = routes.Select(r => $"{r.Model.Id}>{string.Join(">", r.Pools)}").ToHashSet(StringComparer.Ordinal);
        var before = _advertised.GetValueOrDefault(pool) ?? [];
        metrics.Published(pool, routes.Count, now.Count(key => !before.Contains(key)), before.Count(key => !now.Contains(key)));
        _advertised[pool] = now;
    }

    [LoggerMessage(EventId = 6002, Level = LogLevel.Information, Message = "Routes into pool {Pool}: {Count}: {Routes}")]
    private static partial void LogRoutes(ILogger logger, string pool, int count, string routes);
}
