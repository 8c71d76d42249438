using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace LlmRouter.Common.Telemetry;

/// <summary>
/// An integrator's borders as metrics: the routes it advertises into each pool now, and every route it
/// began or stopped advertising there (a model that appeared or went away behind the border).
/// </summary>
internal sealed class BorderMetrics
{
    private readonly MeshMeter _meter;
    private readonly Counter<long> _changes;
    private readonly ConcurrentDictionary<string, int> _routes = new(StringComparer.Ordinal);

    public BorderMetrics(MeshMeter meter)
    {
        _meter = meter;
        _changes = meter.Meter.CreateCounter<long>("llmrouter.border.route_changes", "{route}",
            "Routes this integrator began (advertised) or stopped (withdrawn) advertising into a pool");
        meter.Meter.CreateObservableGauge("llmrouter.border.routes",
            () => _routes.Select(pool => new Measurement<int>(pool.Value, _meter.Node, new("llmrouter.pool", pool.Key))),
            "{route}", "Routes this integrator advertises into each pool now");
    }

    /// <summary>A new set of routes published into <paramref name="pool"/>.</summary>
    public void Published(string pool, int routes, int advertised, int withdrawn)
    {
        _routes[pool] = routes;
        if (advertised > 0)
        {
            _changes.Add(advertised, _meter.Node, new("llmrouter.pool", pool), new("llmrouter.change", "advertised"));
        }

        if (withdrawn > 0)
        {
            _changes.Add(withdrawn, _meter.Node, new("llmrouter.pool", pool), new("llmrouter.change", "withdrawn"));
        }
    }
}
