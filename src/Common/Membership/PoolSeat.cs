using LlmRouter.Common.Gossip;
using LlmRouter.Common.Identity;

namespace LlmRouter.Common.Membership;

/// <summary>
/// A host's place in one pool: the pool's name, the listener members of that pool dial, the certificate
/// the host presents there, and its membership once started. A node has one seat; an integrator has one
/// per pool it joins. A call is always taken on a seat (its listener), and a request forwarded into a
/// pool goes out through the seat of that pool, presenting that seat's certificate.
/// </summary>
internal sealed class PoolSeat(string pool, Uri listen, MemberCertificate certificate) : IPoolView, IDisposable
{
    private volatile PoolMembership? _membership;

    public string Name { get; } = pool;

    /// <summary>The configured listen address.</summary>
    public Uri Listen { get; } = listen;

    /// <summary>The address members of this pool dial: the configured one, or the bound one when it was port 0.</summary>
    public string Address { get; set; } = listen.ToString().TrimEnd('/');

    public MemberCertificate Certificate { get; } = certificate;

    /// <summary>Set once the listeners are up and the membership has started.</summary>
    public PoolMembership? Membership
    {
        get => _membership;
        set => _membership = value;
    }

    /// <summary>This pool's members as routing reads them; empty before the membership starts.</summary>
    public MembershipSnapshot Snapshot => _membership?.Snapshot ?? MembershipSnapshot.Empty;

    /// <summary>Stops watching the certificate files (the membership is the host's to stop).</summary>
    public void Dispose() => Certificate.Dispose();
}

/// <summary>One pool as routing reads it: its name and its members' current snapshot.</summary>
internal interface IPoolView
{
    string Name { get; }

    MembershipSnapshot Snapshot { get; }
}
