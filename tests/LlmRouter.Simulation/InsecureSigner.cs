using Google.Protobuf;
using LlmRouter.Common.Gossip;
using LlmRouter.V1;

namespace LlmRouter.Simulation;

/// <summary>
/// The simulator's signer: no cryptography (it would dominate the run time of 1000 members), but the same
/// rules: a member's key is its id, and a signature is valid only if made with the signer's own key. The
/// signature field has the size of a real ECDSA P-256 signature, so bandwidth figures stay true.
/// </summary>
public sealed class InsecureSigner(string memberId) : IUpdateSigner
{
    private const int SignatureSize = 72;

    public SignedUpdate Sign(Update update)
    {
        var signature = new byte[SignatureSize];
        System.Text.Encoding.UTF8.GetBytes(memberId).AsSpan(0, Math.Min(memberId.Length, SignatureSize)).CopyTo(signature);
        return new SignedUpdate { Update = update.ToByteString(), Signer = memberId, Signature = ByteString.CopyFrom(signature) };
    }

    public object? VerifyAlive(SignedUpdate signed, Alive alive, out string reason)
    {
        reason = "";
        if (!Verify(signed, alive.Member))
        {
            reason = $"signature does not verify with the key of '{alive.Member}'";
            return null;
        }

        return alive.Member;
    }

    public bool Verify(SignedUpdate signed, object key)
    {
        var expected = new byte[SignatureSize];
        var id = (string)key;
        System.Text.Encoding.UTF8.GetBytes(id).AsSpan(0, Math.Min(id.Length, SignatureSize)).CopyTo(expected);
        return signed.Signature.Span.SequenceEqual(expected);
    }
}
