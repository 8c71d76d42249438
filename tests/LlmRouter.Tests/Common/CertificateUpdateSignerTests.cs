using Google.Protobuf;
using LlmRouter.Common.Identity;
using LlmRouter.V1;

namespace LlmRouter.Tests.Common;

/// <summary>Real signatures: a member's records verify only with its own certificate from the mesh CA.</summary>
public sealed class CertificateUpdateSignerTests : IDisposable
{
    private static readonly DateTimeOffset Now = TimeProvider.System.GetUtcNow();
    private readonly System.Security.Cryptography.X509Certificates.X509Certificate2 _ca = CertificateAuthority.CreateRoot("m", Now, TimeSpan.FromDays(1));
    private readonly System.Security.Cryptography.X509Certificates.X509Certificate2 _a1;
    private readonly System.Security.Cryptography.X509Certificates.X509Certificate2 _a2;

    public CertificateUpdateSignerTests()
    {
        _a1 = CertificateAuthority.Issue(_ca, new MeshIdentity("m", "p", MeshRole.Node, "a1"), ["127.0.0.1"], Now, TimeSpan.FromHours(1));
        _a2 = CertificateAuthority.Issue(_ca, new MeshIdentity("m", "p", MeshRole.Node, "a2"), ["127.0.0.1"], Now, TimeSpan.FromHours(1));
    }

    public void Dispose()
    {
        _ca.Dispose();
        _a1.Dispose();
        _a2.Dispose();
    }

    private static Alive AliveOf(string member, System.Security.Cryptography.X509Certificates.X509Certificate2 certificate) =>
        new() { Member = member, Pool = "p", Role = MemberRole.Node, Incarnation = 1, Address = "https://127.0.0.1:1", Certificate = ByteString.CopyFrom(certificate.RawData) };

    [Fact]
    public void VerifyAlive_OwnCertificate_ReturnsAKeyThatVerifiesLaterRecords()
    {
        var a1 = new CertificateUpdateSigner(_a1, _ca, "m");
        var verifier = new CertificateUpdateSigner(_a2, _ca, "m");
        var alive = AliveOf("a1", _a1);

        var key = verifier.VerifyAlive(a1.Sign(new Update { Alive = alive }), alive, out var reason);
        var load = a1.Sign(new Update { Load = new LoadRecord { Member = "a1", Sequence = 1 } });

        Assert.NotNull(key);
        Assert.Equal("", reason);
        Assert.True(verifier.Verify(load, key));
    }

    [Fact]
    public void VerifyAlive_AnotherMembersCertificate_Refused()
    {
        var a2 = new CertificateUpdateSigner(_a2, _ca, "m");
        var forged = AliveOf("a1", _a2);

        var key = new CertificateUpdateSigner(_a1, _ca, "m").VerifyAlive(a2.Sign(new Update { Alive = forged }), forged, out var reason);

        Assert.Null(key);
        Assert.Contains("names spiffe://m/pool/p/node/a2, not member 'a1'", reason);
    }

    [Fact]
    public void VerifyAlive_CertificateFromAnotherCa_Refused()
    {
        using var otherCa = CertificateAuthority.CreateRoot("m", Now, TimeSpan.FromDays(1));
        using var impostor = CertificateAuthority.Issue(otherCa, new MeshIdentity("m", "p", MeshRole.Node, "a1"), ["127.0.0.1"], Now, TimeSpan.FromHours(1));
        var alive = AliveOf("a1", impostor);

        var key = new CertificateUpdateSigner(_a2, _ca, "m").VerifyAlive(new CertificateUpdateSigner(impostor, otherCa, "m").Sign(new Update { Alive = alive }), alive, out var reason);

        Assert.Null(key);
        Assert.Contains("does not chain to the mesh CA", reason);
    }

    [Fact]
    public void Verify_RecordAlteredByARelay_Fails()
    {
        var a1 = new CertificateUpdateSigner(_a1, _ca, "m");
        var alive = AliveOf("a1", _a1);
        var key = new CertificateUpdateSigner(_a2, _ca, "m").VerifyAlive(a1.Sign(new Update { Alive = alive }), alive, out _)!;
        var signed = a1.Sign(new Update { Load = new LoadRecord { Member = "a1", Sequence = 1, Backends = { new BackendLoad { Backend = "b", InFlight = 1 } } } });

        var altered = Update.Parser.ParseFrom(signed.Update);
        altered.Load.Backends[0].InFlight = 0;
        signed.Update = altered.ToByteString();

        Assert.False(new CertificateUpdateSigner(_a2, _ca, "m").Verify(signed, key));
    }

    [Fact]
    public void Verify_RecordSignedByAnotherMember_Fails()
    {
        var a1 = new CertificateUpdateSigner(_a1, _ca, "m");
        var a2 = new CertificateUpdateSigner(_a2, _ca, "m");
        var alive = AliveOf("a1", _a1);
        var a1Key = a2.VerifyAlive(a1.Sign(new Update { Alive = alive }), alive, out _)!;

        var forged = a2.Sign(new Update { Dead = new Dead { Member = "a1", From = "a1", Incarnation = 5 } });
        forged.Signer = "a1";

        Assert.False(a2.Verify(forged, a1Key));
    }
}
