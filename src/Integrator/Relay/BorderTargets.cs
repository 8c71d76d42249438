using System.Collections.Concurrent;
using Grpc.Core;
using LlmRouter.Common.Gossip;
using LlmRouter.Common.Protocol;
using LlmRouter.Integrator.Border;
using LlmRouter.V1;

namespace LlmRouter.Integrator.Relay;

/// <summary>Where a request carried across a border can go: a node that has the model, or the next integrator.</summary>
internal sealed record BorderTarget(BorderPool Pool, string Member, string Address, ModelInfo Model, IReadOnlyList<string> ViaPools, double Free)
{
    /// <summary>Through another integrator (a chain), rather than to the node itself.</summary>
    public bool IsRoute => ViaPools.Count > 0;

    public string Key => $"{Member}/{Model.Node}/{Model.Backend}";
}

/// <summary>What a request asks of the model it names, as the entry node resolved it.</summary>
internal sealed record BorderQuery(string Model, ModelKind Kind, ModelRequirements? Requirements, IReadOnlyList<string> PolicyLabels);

/// <summary>
/// Chooses where to carry a request that arrived from one pool: every copy of the named model in the
/// integrator's other pools that meets the request's requirements and policies, nodes before further
/// integrators (fewer hops), then the most free room (counting what this integrator already has open
/// there, so a burst spreads), with a little jitter among equals.
/// </summary>
internal sealed class BorderTargets(BorderPools pools, IReadOnlyList<string> export)
{
    private readonly ConcurrentDictionary<string, int> _open = new(StringComparer.Ordinal);

    public List<BorderTarget> Find(string arrivalPool, BorderQuery query, IReadOnlyList<string> path)
    {
        if (query.PolicyLabels.Contains(PolicyLabels.SubnetOnly, StringComparer.Ordinal))
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition,
                $"policy_labels: 'subnet-only' requests never cross a border, and integrator '{pools.IntegratorId}' joins pools {string.Join(", ", pools.All.Select(p => p.Name))}"));
        }

        var onPremOnly = query.PolicyLabels.Contains(PolicyLabels.OnPremOnly, StringComparer.Ordinal);
        var found = new List<BorderTarget>();
        foreach (var pool in pools.All.Where(p => p.Name != arrivalPool))
        {
            foreach (var member in pool.Members())
            {
                if (member.IsSelf || member.Status != MemberStatus.Alive || path.Contains(member.Id, StringComparer.Ordinal))
                {
                    continue;
                }

                foreach (var model in member.Models?.Models ?? [])
                {
                    if (Serves(model, query, onPremOnly))
                    {
                        var load = member.Load?.Backends.FirstOrDefault(b => b.Backend == model.Backend);
                        found.Add(new BorderTarget(pool, member.Id, member.Address, model, [], FreeFraction(load)));
                    }
                }

                foreach (var route in member.Routes?.Routes ?? [])
                {
                    if (!route.Pools.Contains(arrivalPool) && Serves(route.Model, query, onPremOnly))
                    {
                        found.Add(new BorderTarget(pool, member.Id, member.Address, route.Model, route.Pools, Math.Clamp(1 - route.LeastLoad, 0, 1)));
                    }
                }
            }
        }

        if (found.Count == 0)
        {
            throw new RpcException(new Status(StatusCode.Unavailable,
                $"model: no member behind integrator '{pools.IntegratorId}' serves '{query.Model}' now"
                + (BorderRoutes.Exported(new ModelInfo { Id = query.Model }, export) ? "" : " (this border does not export it)")));
        }

        return found
            .Select(target => (Target: target, Rank: Rank(target)))
            .OrderBy(t => t.Target.IsRoute)
            .ThenByDescending(t => t.Rank)
            .Select(t => t.Target)
            .ToList();
    }

    /// <summary>Counts a request this integrator has open on a target until the returned handle is disposed.</summary>
    public IDisposable Track(BorderTarget target)
    {
        _open.AddOrUpdate(target.Key, 1, (_, open) => open + 1);
        return new Release(() => _open.AddOrUpdate(target.Key, 0, (_, open) => Math.Max(0, open - 1)));
    }

    private double Rank(BorderTarget target)
    {
        var open = _open.GetValueOrDefault(target.Key);
        return target.Free - (0.1 * open) + (0.5 * target.Model.Quality) + (Random.Shared.NextDouble() * 0.02);
    }

    private bool Serves(ModelInfo model, BorderQuery query, bool onPremOnly) =>
        model.Kind == query.Kind
        && (model.Id == query.Model || model.Aliases.Contains(query.Model))
        && BorderRoutes.Exported(model, export)
        && !(onPremOnly && model.Cloud)
        && Meets(model, query.Requirements);

    private static bool Meets(ModelInfo model, ModelRequirements? requirements) =>
        requirements is null
        || (model.ContextTokens >= requirements.MinContextTokens
            && model.Quality >= requirements.MinQuality
            && requirements.Features.All(feature => model.Features.Contains(feature)));

    /// <summary>Share of the backend's slots free; unknown load counts as half full.</summary>
    private static double FreeFraction(BackendLoad? load) => load is null || load.MaxConcurrency == 0
        ? 0.5
        : Math.Clamp(1 - ((load.InFlight + load.Queued) / (double)load.MaxConcurrency), 0, 1);

    private sealed class Release(Action release) : IDisposable
    {
        private int _done;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0)
            {
                release();
            }
        }
    }
}
