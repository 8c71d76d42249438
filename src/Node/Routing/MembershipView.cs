using LlmRouter.Common.Gossip;
using LlmRouter.Node.Membership;

namespace LlmRouter.Node.Routing;

/// <summary>
/// The pool's membership as routing reads it: a version that moves whenever the view may have changed
/// (cheap, read on every request) and the members together with the version they were read at.
/// </summary>
internal interface IMembershipView
{
    bool Started { get; }

    /// <summary>Moves on every change of any member's status, models, routes or load (and may move more often).</summary>
    long Version { get; }

    /// <summary>Every member with the version of that view, read together.</summary>
    (long Version, IReadOnlyList<MemberView> Members) Read();
}

/// <summary>
/// This node's membership: its version moves on every step of the SWIM state machine (a message, a reply,
/// a timer), so a new model, load or route record, a status change, and a record outliving its time to
/// live (noticed at the next gossip or probe tick, every 200 ms on a LAN) all show as a new version.
/// </summary>
internal sealed class RuntimeMembershipView(MembershipRuntime membership) : IMembershipView
{
    public bool Started => membership.Started;

    public long Version => membership.Snapshot.Version;

    // Under the membership's lock: no step runs between reading the version and the members.
    public (long Version, IReadOnlyList<MemberView> Members) Read() => membership.Snapshot is var snapshot ? (snapshot.Version, snapshot.Members) : default;
}
