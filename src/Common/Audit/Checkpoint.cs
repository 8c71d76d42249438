using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using LlmRouter.Common.Identity;

namespace LlmRouter.Common.Audit;

/// <summary>
/// A route log's signed checkpoint (issue 14): the node, the log's size and Merkle root, and the time, signed with the
/// node's certificate key. The signed text follows the shape of a transparency log checkpoint (C2SP's
/// signed-note body: origin, size, base64 root, one per line), with the time added. It carries the certificate
/// it was signed with, so anyone holding the mesh CA can check it: the certificate chains to the CA, was valid at
/// the checkpoint's time, and names the node. Two checkpoints of one node whose trees are not consistent are that
/// node's signed proof against itself.
/// </summary>
public sealed record Checkpoint(string Node, long Size, byte[] Root, DateTimeOffset Time, byte[] Certificate, byte[] Signature)
{
    private const string Origin = "llmrouter route log/v1";

    /// <summary>The text that is signed.</summary>
    public static byte[] Body(string node, long size, ReadOnlySpan<byte> root, DateTimeOffset time) =>
        Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture,
            $"{Origin}\n{node}\n{size}\n{Convert.ToBase64String(root)}\n{time.ToUnixTimeMilliseconds()}\n"));

    public static Checkpoint Sign(string node, long size, byte[] root, DateTimeOffset time, X509Certificate2 certificate)
    {
        using var key = certificate.GetECDsaPrivateKey() ?? throw new InvalidOperationException($"the certificate of '{node}' has no ECDSA private key to sign its route log with");
        var signature = key.SignData(Body(node, size, root, time), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        // Whole milliseconds: what the signed text holds.
        return new Checkpoint(node, size, root, DateTimeOffset.FromUnixTimeMilliseconds(time.ToUnixTimeMilliseconds()), certificate.RawData, signature);
    }

    /// <summary>Why the checkpoint cannot be trusted; null when its signature holds and its certificate is the node's, from the mesh CA, valid at its time.</summary>
    public string? Problem(X509Certificate2 authority, string mesh)
    {
        X509Certificate2 certificate;
        try
        {
            certificate = X509CertificateLoader.LoadCertificate(Certificate);
        }
        catch (CryptographicException ex)
        {
            return $"its certificate cannot be read: {ex.Message}";
        }

        using (certificate)
        {
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.Add(authority);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            chain.ChainPolicy.VerificationTime = Time.UtcDateTime;
            if (!chain.Build(certificate))
            {
                return "its certificate does not chain to the mesh CA, or was not valid at the checkpoint's time";
            }

            if (MeshIdentity.FromCertificate(certificate) is not { } identity || identity.Mesh != mesh || identity.Name != Node)
            {
                return $"its certificate does not name '{Node}' of mesh '{mesh}'";
            }

            using var key = certificate.GetECDsaPublicKey();
            return key is not null && key.VerifyData(Body(Node, Size, Root, Time), Signature, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation)
                ? null
                : "its signature does not match its content";
        }
    }

    /// <summary>The checkpoint as one line of JSON (no newline).</summary>
    public byte[] Serialize()
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(1024);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("node", Node);
            json.WriteNumber("size", Size);
            json.WriteString("root", Convert.ToHexStringLower(Root));
            json.WriteNumber("time_ms", Time.ToUnixTimeMilliseconds());
            json.WriteString("certificate", Convert.ToBase64String(Certificate));
            json.WriteString("signature", Convert.ToBase64String(Signature));
            json.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>A checkpoint line as <see cref="Serialize"/> writes it; null when it is not one.</summary>
    public static Checkpoint? Parse(string line)
    {
        try
        {
            using var document = JsonDocument.Parse(line);
            var json = document.RootElement;
            return new Checkpoint(
                json.GetProperty("node").GetString()!,
                json.GetProperty("size").GetInt64(),
                Convert.FromHexString(json.GetProperty("root").GetString()!),
                DateTimeOffset.FromUnixTimeMilliseconds(json.GetProperty("time_ms").GetInt64()),
                Convert.FromBase64String(json.GetProperty("certificate").GetString()!),
                Convert.FromBase64String(json.GetProperty("signature").GetString()!));
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException or ArgumentOutOfRangeException)
        {
            return null;
        }
    }
}
