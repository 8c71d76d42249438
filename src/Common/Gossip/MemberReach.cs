using LlmRouter.V1;

namespace LlmRouter.Common.Gossip;

/// <summary>
/// Which members requests and routes may go to. A suspect member is still a member (SWIM: only its own
/// refutation or the suspicion timeout decides), and under load probes time out long before a member is
/// gone: dropping suspects from routing turned a busy machine's passing suspicion into refused requests
/// and withdrawn routes. So suspects stay in reach, behind every alive candidate (tried only when no alive
/// one can serve; a failure there fails over like any other); dead and left members are out of reach.
/// </summary>
internal static class MemberReach
{
    public static bool InReach(MemberStatus status) => status is MemberStatus.Alive or MemberStatus.Suspect;
}
