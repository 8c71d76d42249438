using System.Net.Security;
using System.Runtime.CompilerServices;
using System.Security.Cryptography.X509Certificates;
using LlmRouter.Common.Identity;

namespace LlmRouter.Common.Identity;

/// <summary>
/// Checks peer certificates against the mesh's own CA only (never the system store): a certificate is
/// trusted when it chains to the mesh CA, is within its validity period, and names a mesh identity.
/// </summary>
internal sealed class MeshTrust(X509Certificate2 authority, string meshName, TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    // Peer certificates already chained, per instance: a TLS connection keeps one for all its calls.
    private readonly ConditionalWeakTable<X509Certificate2, Verified> _peers = new();

    public X509Certificate2 Authority { get; } = authority;

    /// <summary>Validates a client certificate presented to this node; null means none was presented.</summary>
    public bool ValidateClient(X509Certificate2? certificate, X509Chain? chain, SslPolicyErrors errors) =>
        certificate is not null && Identify(certificate) is not null;

    /// <summary>The certificate's mesh identity if it chains to the mesh CA and belongs to this mesh, else null.</summary>
    public MeshIdentity? Identify(X509Certificate2 certificate)
    {
        if (!MeshChannels.ChainsTo(certificate, Authority))
        {
            return null;
        }

        var identity = MeshIdentity.FromCertificate(certificate);
        return identity is not null && identity.Mesh == meshName ? identity : null;
    }

    /// <summary>
    /// <see cref="Identify"/> for the certificate of a connection's peer, called on every request: the chain
    /// (hundreds of microseconds to build) is built once per certificate instance, which a connection
    /// keeps for its lifetime; the validity periods of the certificate and of the CA are checked every time.
    /// </summary>
    public MeshIdentity? IdentifyPeer(X509Certificate2 certificate)
    {
        if (_peers.TryGetValue(certificate, out var known))
        {
            var now = _time.GetUtcNow().UtcDateTime;
            return known.From <= now && now <= known.Until ? known.Identity : null;
        }

        var identity = Identify(certificate);
        if (identity is not null)
        {
            _peers.AddOrUpdate(certificate, new Verified(
                identity,
                Max(certificate.NotBefore.ToUniversalTime(), Authority.NotBefore.ToUniversalTime()),
                Min(certificate.NotAfter.ToUniversalTime(), Authority.NotAfter.ToUniversalTime())));
        }

        return identity;
    }

    private static DateTime Max(DateTime a, DateTime b) => a > b ? a : b;

    private static DateTime Min(DateTime a, DateTime b) => a < b ? a : b;

    /// <summary>A chained peer certificate: its identity, and when the chain (certificate and CA) is valid, in UTC.</summary>
    private sealed record Verified(MeshIdentity Identity, DateTime From, DateTime Until);
}
