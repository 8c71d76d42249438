using LlmRouter.Common.Gossip;
using LlmRouter.Node.Catalog;
using LlmRouter.Node.Membership;
using LlmRouter.V1;

namespace LlmRouter.Node.Routing;

/// <summary>
/// Every candidate in reach: this node's backends, and the models of alive pool members as their gossiped
/// model records describe them, each with the member's fresh load record for that backend if one is known.
/// </summary>
internal sealed class CandidateSource(MembershipRuntime membership)
{
    public List<RouteCandidate> Gather(CatalogSnapshot snapshot, bool includeRemote)
    {
        var candidates = snapshot.Models.Select(local => RouteCandidate.FromLocal(local, snapshot.Node)).ToList();
        if (!includeRemote || !membership.Started)
        {
            return candidates;
        }

        var members = membership.Read(state => state.Members);
        foreach (var member in members)
        {
            if (member.IsSelf || member.Status != MemberStatus.Alive)
            {
                continue;
            }

            foreach (var model in member.Models?.Models ?? [])
            {
                var load = member.Load?.Backends.FirstOrDefault(b => b.Backend == model.Backend);
                candidates.Add(RouteCandidate.FromRemote(model, member.Address, load));
            }

            // Routes that would lead back into this pool are ignored: the path vector prevents loops.
            foreach (var route in member.Routes?.Routes ?? [])
            {
                if (!route.Pools.Contains(snapshot.Node.Pool))
                {
                    candidates.Add(RouteCandidate.FromRoute(route, member.Id, member.Pool, member.Address));
                }
            }
        }

        return candidates;
    }

    /// <summary>Members not alive (suspect, dead, left) whose last model record offers the model: known, but out of reach.</summary>
    public IReadOnlyList<string> UnreachableServers(string model)
    {
        if (!membership.Started)
        {
            return [];
        }

        return membership.Read(state => state.Members
            .Where(m => !m.IsSelf && m.Status != MemberStatus.Alive && m.Models is not null
                && m.Models.Models.Any(info => info.Id == model || info.Aliases.Contains(model)))
            .Select(m => $"{m.Id} ({m.Status.ToString().ToLowerInvariant()})")
            .ToList());
    }
}
