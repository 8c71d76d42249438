using System.Security.Cryptography.X509Certificates;
using LlmRouter.Common.Gossip;
using LlmRouter.Common.Identity;
using LlmRouter.V1;

namespace LlmRouter.Common.Membership;

/// <summary>Signs with the node's current certificate; a rotation swaps the key for every later update.</summary>
internal sealed class RotatingUpdateSigner(X509Certificate2 authority, string mesh, X509Certificate2 initial) : IUpdateSigner
{
    private volatile CertificateUpdateSigner _current = new(initial, authority, mesh);

    public void Rotate(X509Certificate2 certificate) => _current = new CertificateUpdateSigner(certificate, authority, mesh);

    public SignedUpdate Sign(Update update) => _current.Sign(update);

    public object? VerifyAlive(SignedUpdate signed, Alive alive, out string reason) => _current.VerifyAlive(signed, alive, out reason);

    public bool Verify(SignedUpdate signed, object key) => _current.Verify(signed, key);
}
