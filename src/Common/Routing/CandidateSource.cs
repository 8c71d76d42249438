using LlmRouter.Common.Forwarding;
using LlmRouter.Common.Gossip;
using LlmRouter.Common.Membership;
using LlmRouter.Common.Pipeline;
using LlmRouter.V1;

namespace LlmRouter.Common.Routing;

/// <summary>
/// Every candidate in reach of this host: its own backends, and in each pool it has a seat in, the models of
/// members in reach (alive, or suspect and marked so: <see cref="MemberReach"/>) as their gossiped model records describe them (each with the member's fresh load record
/// for that backend, if one is known) and the routes integrators advertise (none leads back into that pool:
/// the path vector prevents loops, and every receiver refuses a route record with one).
/// </summary>
/// <remarks>
/// Building the candidates allocates for each one, so it happens once per change, not per request: once per
/// host snapshot and set of membership snapshots (each replaced only when something in it changed). A
/// request whose snapshots match the last build reads the cached array as it is.
/// </remarks>
internal sealed class CandidateSource(IReadOnlyList<IPoolView> seats, ForwardedLoad forwarded)
{
    private volatile CandidateSet? _all;

    /// <summary>The candidates for a request: read-only, shared by every request until the next change.</summary>
    public IReadOnlyList<RouteCandidate> Gather(HostSnapshot snapshot, bool includeRemote)
    {
        if (!includeRemote)
        {
            return snapshot.Local;
        }

        if (_all is { } cached && cached.Matches(snapshot, seats))
        {
            return cached.Candidates;
        }

        var memberships = new MembershipSnapshot[seats.Count];
        for (var i = 0; i < seats.Count; i++)
        {
            memberships[i] = seats[i].Snapshot;
        }

        // Concurrent requests may both rebuild after a change; each result is complete, the last one stays.
        var all = new CandidateSet(snapshot, memberships, Build(snapshot, memberships));
        _all = all;
        return all.Candidates;
    }

    /// <summary>Members out of reach (dead, left) whose last model record offers the model: known, but gone.</summary>
    public IReadOnlyList<string> UnreachableServers(string model) => seats
        .SelectMany(seat => seat.Snapshot.Members)
        .Where(m => !m.IsSelf && !MemberReach.InReach(m.Status) && m.Models is not null
            && m.Models.Models.Any(info => info.Id == model || info.Aliases.Contains(model)))
        .Select(m => $"{m.Id} ({m.Status.ToString().ToLowerInvariant()})")
        .ToList();

    private RouteCandidate[] Build(HostSnapshot snapshot, MembershipSnapshot[] memberships)
    {
        var candidates = new List<RouteCandidate>(snapshot.Local);
        for (var i = 0; i < seats.Count; i++)
        {
            var pool = seats[i].Name;
            foreach (var member in memberships[i].Members)
            {
                if (member.IsSelf || !MemberReach.InReach(member.Status))
                {
                    continue;
                }

                var suspect = member.Status == MemberStatus.Suspect;
                foreach (var model in member.Models?.Models ?? [])
                {
                    var load = member.Load?.Backends.FirstOrDefault(b => b.Backend == model.Backend);
                    candidates.Add(WithCounter(RouteCandidate.FromRemote(model, member.Address, load, suspect)));
                }

                // No route leads back into this pool: RecordRules refuses a record with one.
                foreach (var route in member.Routes?.Routes ?? [])
                {
                    candidates.Add(WithCounter(RouteCandidate.FromRoute(route, member.Id, pool, member.Address, suspect)));
                }
            }
        }

        return [.. candidates];
    }

    private RouteCandidate WithCounter(RouteCandidate candidate) => candidate.WithForwarded(forwarded.For(candidate.Key));

    /// <summary>Candidates built from one host snapshot and one membership snapshot per seat.</summary>
    private sealed record CandidateSet(HostSnapshot Snapshot, MembershipSnapshot[] Memberships, RouteCandidate[] Candidates)
    {
        /// <summary>Whether it was built from this host snapshot and each seat's current membership snapshot (nothing allocated).</summary>
        public bool Matches(HostSnapshot snapshot, IReadOnlyList<IPoolView> seats)
        {
            if (!ReferenceEquals(Snapshot, snapshot) || Memberships.Length != seats.Count)
            {
                return false;
            }

            for (var i = 0; i < Memberships.Length; i++)
            {
                if (!ReferenceEquals(Memberships[i], seats[i].Snapshot))
                {
                    return false;
                }
            }

            return true;
        }
    }
}
