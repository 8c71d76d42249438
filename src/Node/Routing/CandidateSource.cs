using LlmRouter.Common.Gossip;
using LlmRouter.Node.Catalog;
using LlmRouter.Node.Forwarding;
using LlmRouter.Node.Membership;
using LlmRouter.V1;

namespace LlmRouter.Node.Routing;

/// <summary>
/// Every candidate in reach: this node's backends, and the models of alive pool members as their gossiped
/// model records describe them, each with the member's fresh load record for that backend if one is known.
/// </summary>
/// <remarks>
/// Building the candidates allocates for each one, so it happens once per change, not per request: the
/// local candidates once per catalog snapshot, the whole set once per snapshot and membership version.
/// A request whose snapshot and version match the last build reads the cached array as it is.
/// </remarks>
internal sealed class CandidateSource
{
    private readonly IMembershipView _membership;
    private volatile CandidateSet? _local;
    private volatile CandidateSet? _all;

    private readonly ForwardedLoad _forwarded;

    public CandidateSource(MembershipRuntime membership, ForwardedLoad forwarded)
        : this(new RuntimeMembershipView(membership), forwarded)
    {
    }

    internal CandidateSource(IMembershipView membership, ForwardedLoad? forwarded = null)
    {
        _membership = membership;
        _forwarded = forwarded ?? new ForwardedLoad();
    }

    /// <summary>The candidates for a request: read-only, shared by every request until the next change.</summary>
    public IReadOnlyList<RouteCandidate> Gather(CatalogSnapshot snapshot, bool includeRemote)
    {
        var local = Local(snapshot);
        if (!includeRemote || !_membership.Started)
        {
            return local.Candidates;
        }

        var version = _membership.Version;
        if (_all is { } cached && cached.Snapshot == snapshot && cached.Version == version)
        {
            return cached.Candidates;
        }

        // Concurrent requests may both rebuild after a change; each result is complete, the last one stays.
        var (readAt, members) = _membership.Read();
        var all = new CandidateSet(snapshot, readAt, WithRemote(local.Candidates, members, snapshot.Node.Pool));
        _all = all;
        return all.Candidates;
    }

    /// <summary>Members not alive (suspect, dead, left) whose last model record offers the model: known, but out of reach.</summary>
    public IReadOnlyList<string> UnreachableServers(string model)
    {
        if (!_membership.Started)
        {
            return [];
        }

        return _membership.Read().Members
            .Where(m => !m.IsSelf && m.Status != MemberStatus.Alive && m.Models is not null
                && m.Models.Models.Any(info => info.Id == model || info.Aliases.Contains(model)))
            .Select(m => $"{m.Id} ({m.Status.ToString().ToLowerInvariant()})")
            .ToList();
    }

    private CandidateSet Local(CatalogSnapshot snapshot)
    {
        if (_local is { } cached && cached.Snapshot == snapshot)
        {
            return cached;
        }

        var local = new CandidateSet(snapshot, 0, [.. snapshot.Models.Select(model => RouteCandidate.FromLocal(model, snapshot.Node))]);
        _local = local;
        return local;
    }

    private RouteCandidate[] WithRemote(RouteCandidate[] local, IReadOnlyList<MemberView> members, string pool)
    {
        var candidates = new List<RouteCandidate>(local);
        foreach (var member in members)
        {
            if (member.IsSelf || member.Status != MemberStatus.Alive)
            {
                continue;
            }

            foreach (var model in member.Models?.Models ?? [])
            {
                var load = member.Load?.Backends.FirstOrDefault(b => b.Backend == model.Backend);
                candidates.Add(WithCounter(RouteCandidate.FromRemote(model, member.Address, load)));
            }

            // Routes that would lead back into this pool are ignored: the path vector prevents loops.
            foreach (var route in member.Routes?.Routes ?? [])
            {
                if (!route.Pools.Contains(pool))
                {
                    candidates.Add(WithCounter(RouteCandidate.FromRoute(route, member.Id, member.Pool, member.Address)));
                }
            }
        }

        return [.. candidates];
    }

    private RouteCandidate WithCounter(RouteCandidate candidate) => candidate.WithForwarded(_forwarded.For(candidate.BackendKey));

    /// <summary>Candidates built from one catalog snapshot and one membership version (0 for local ones).</summary>
    private sealed record CandidateSet(CatalogSnapshot Snapshot, long Version, RouteCandidate[] Candidates);
}
