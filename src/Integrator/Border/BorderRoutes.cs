using LlmRouter.Common.Gossip;
using LlmRouter.Common.Routing;
using LlmRouter.V1;

namespace LlmRouter.Integrator.Border;

/// <summary>
/// What an integrator advertises into one pool (DESIGN.md section 5): every model it can reach in its
/// other pools, directly (a node's model record with its load) or through another integrator's routes,
/// one route per model and path of pools, with the best copy's description, the summed free capacity,
/// the least load, and the path vector. A route whose path already holds the pool it would be advertised
/// into is dropped, so no route loops; a border with an export list carries only those models. Copies in a
/// cloud and on premises make separate routes, so a request that must stay on premises still finds one.
/// A route describes the model as its best copy does, but names only the integrator that advertises it
/// (as node, in the pool it is advertised into, with no backend): a member's records describe only itself
/// (<see cref="RecordRules"/>), and which copy serves is the integrator's choice.
/// </summary>
internal static class BorderRoutes
{
    /// <summary>Load assumed for a copy whose member has no fresh load record: half full, never idle.</summary>
    private const double UnknownLoad = 0.5;

    public static List<ModelRoute> Into(
        string integrator,
        string pool,
        IReadOnlyDictionary<string, IReadOnlyList<MemberView>> others,
        IReadOnlyList<string> export,
        DateTimeOffset now)
    {
        var copies = new List<Copy>();
        foreach (var (behind, members) in others)
        {
            if (behind == pool)
            {
                continue;
            }

            foreach (var member in members)
            {
                // Suspects too (MemberReach): a route withdrawn at every passing suspicion would flap under load.
                if (member.IsSelf || !MemberReach.InReach(member.Status))
                {
                    continue;
                }

                foreach (var model in member.Models?.Models ?? [])
                {
                    var load = member.Load?.Backends.FirstOrDefault(b => b.Backend == model.Backend);
                    if (load?.CooldownUntil?.ToDateTimeOffset() > now)
                    {
                        continue;
                    }

                    copies.Add(new Copy(model, Free(load), Load(load), [behind]));
                }

                foreach (var route in member.Routes?.Routes ?? [])
                {
                    if (!route.Pools.Contains(pool) && !route.Pools.Contains(behind))
                    {
                        copies.Add(new Copy(route.Model, route.FreeCapacity, route.LeastLoad, [behind, .. route.Pools]));
                    }
                }
            }
        }

        return copies
            .Where(copy => Exported(copy.Model, export))
            .GroupBy(copy => (copy.Model.Id, copy.Model.Kind, copy.Model.Cloud, Path: string.Join('>', copy.Pools)))
            .OrderBy(group => group.Key.Id, StringComparer.Ordinal)
            .ThenBy(group => group.Key.Path, StringComparer.Ordinal)
            .Select(group =>
            {
                var best = group.OrderByDescending(c => c.Model.Quality).ThenBy(c => c.Load).First();
                var model = best.Model.Clone();
                model.Node = integrator;
                model.Pool = pool;
                model.Backend = "";
                var route = new ModelRoute
                {
                    Model = model,
                    FreeCapacity = (uint)Math.Min(uint.MaxValue, group.Sum(c => (long)c.Free)),
                    LeastLoad = group.Min(c => c.Load),
                };
                route.Pools.Add(best.Pools);
                return route;
            })
            .ToList();
    }

    /// <summary>Whether the border carries this model (<see cref="ExportedOnly"/>'s rule).</summary>
    public static bool Exported(ModelInfo model, IReadOnlyList<string> export) => ExportedOnly.Allows(export, model.Id, model.Aliases);

    private static uint Free(BackendLoad? load) => load is null
        ? 1
        : (uint)Math.Max(0, (long)load.MaxConcurrency - load.InFlight - load.Queued);

    private static double Load(BackendLoad? load) => load is null || load.MaxConcurrency == 0
        ? UnknownLoad
        : Math.Clamp((load.InFlight + load.Queued) / (double)load.MaxConcurrency, 0, 1);

    private sealed record Copy(ModelInfo Model, uint Free, double Load, IReadOnlyList<string> Pools);
}
