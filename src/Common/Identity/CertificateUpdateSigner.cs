using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Google.Protobuf;
using LlmRouter.Common.Gossip;
using LlmRouter.V1;

namespace LlmRouter.Common.Identity;

/// <summary>
/// Signs this member's gossip with its certificate's ECDSA key and verifies others' against the mesh CA:
/// an alive update must carry a certificate that chains to the CA, is valid now, and names the same mesh,
/// pool, role and member in its URI SAN; later updates verify with that certificate's key.
/// </summary>
public sealed class CertificateUpdateSigner : IUpdateSigner
{
    private readonly ECDsa _key;
    private readonly string _id;
    private readonly X509Certificate2 _authority;
    private readonly string _mesh;

    public CertificateUpdateSigner(X509Certificate2 own, X509Certificate2 authority, string mesh)
    {
        _key = own.GetECDsaPrivateKey() ?? throw new InvalidOperationException("the member certificate has no ECDSA private key");
        _id = MeshIdentity.FromCertificate(own)?.Name ?? throw new InvalidOperationException("the member certificate names no mesh identity (URI SAN)");
        _authority = authority;
        _mesh = mesh;
    }

    public SignedUpdate Sign(Update update)
    {
        var bytes = update.ToByteString();
        var signature = _key.SignData(bytes.Span, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        return new SignedUpdate { Update = bytes, Signer = _id, Signature = ByteString.CopyFrom(signature) };
    }

    public object? VerifyAlive(SignedUpdate signed, Alive alive, out string reason)
    {
        X509Certificate2 certificate;
        try
        {
            certificate = X509CertificateLoader.LoadCertificate(alive.Certificate.Span);
        }
        catch (CryptographicException ex)
        {
            reason = $"its certificate cannot be read: {ex.Message}";
            return null;
        }

        using (certificate)
        {
            if (!MeshChannels.ChainsTo(certificate, _authority))
            {
                reason = "its certificate does not chain to the mesh CA or is not valid now";
                return null;
            }

            var identity = MeshIdentity.FromCertificate(certificate);
            var role = alive.Role == MemberRole.Integrator ? MeshRole.Integrator : MeshRole.Node;
            if (identity is null || identity.Mesh != _mesh || identity.Pool != alive.Pool || identity.Name != alive.Member || identity.Role != role)
            {
                reason = $"its certificate names {identity?.ToString() ?? "no identity"}, not member '{alive.Member}' of pool '{alive.Pool}'";
                return null;
            }

            var key = certificate.GetECDsaPublicKey();
            if (key is null || !Verify(signed, key))
            {
                reason = "the signature does not verify with its certificate";
                return null;
            }

            reason = "";
            return key;
        }
    }

    public bool Verify(SignedUpdate signed, object key) =>
        key is ECDsa ecdsa && ecdsa.VerifyData(signed.Update.Span, signed.Signature.Span, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
}
