using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using LlmRouter.Common.Identity;

namespace LlmRouter.Common.Identity;

/// <summary>
/// Checks peer certificates against the mesh's own CA only (never the system store): a certificate is
/// trusted when it chains to the mesh CA, is within its validity period, and names a mesh identity.
/// </summary>
internal sealed class MeshTrust(X509Certificate2 authority, string meshName)
{
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
}
