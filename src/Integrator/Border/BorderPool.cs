using LlmRouter.Common.Configuration;
using LlmRouter.Common.Gossip;
using LlmRouter.Common.Identity;
using LlmRouter.Common.Membership;

namespace LlmRouter.Integrator.Border;

/// <summary>The integrator's place in one pool: its address and certificate there, and its membership once started.</summary>
internal sealed class BorderPool(IntegratorPoolConfig config, MemberCertificate certificate)
{
    public string Name => config.Pool;

    public Uri Listen => config.Listen;

    /// <summary>The address members of this pool dial.</summary>
    public string Address => config.Listen.ToString().TrimEnd('/');

    public MemberCertificate Certificate { get; } = certificate;

    /// <summary>Set once the listeners are up and the membership has started.</summary>
    public PoolMembership? Membership { get; set; }

    /// <summary>This pool's members as the integrator sees them now; empty before the membership starts.</summary>
    public IReadOnlyList<MemberView> Members() => Membership?.Snapshot.Members ?? [];
}
