using LlmRouter.Common.Identity;

namespace LlmRouter.Tests.Common;

/// <summary>Certificates carry the mesh identity in a URI SAN and chain only to their own mesh CA.</summary>
public sealed class IdentityTests
{
    // Chain validation checks validity against the real clock, so certificates are issued from it.
    private static readonly DateTimeOffset Now = TimeProvider.System.GetUtcNow();

    [Fact]
    public void Issue_NodeCertificate_CarriesIdentityInUriSan()
    {
        using var ca = CertificateAuthority.CreateRoot("mesh-x", Now, TimeSpan.FromDays(30));
        var identity = new MeshIdentity("mesh-x", "subnet-a", MeshRole.Node, "a1");

        using var certificate = CertificateAuthority.Issue(ca, identity, ["127.0.0.1", "node-a1.internal"], Now, TimeSpan.FromDays(10));

        Assert.Equal(identity, MeshIdentity.FromCertificate(certificate));
        Assert.Equal("spiffe://mesh-x/pool/subnet-a/node/a1", identity.ToString());
        Assert.True(MeshChannels.ChainsTo(certificate, ca));
        Assert.True(certificate.HasPrivateKey);
    }

    [Fact]
    public void ChainsTo_CertificateFromAnotherCa_IsRejected()
    {
        using var ours = CertificateAuthority.CreateRoot("mesh-x", Now, TimeSpan.FromDays(30));
        using var theirs = CertificateAuthority.CreateRoot("mesh-x", Now, TimeSpan.FromDays(30));
        using var forged = CertificateAuthority.Issue(theirs, new MeshIdentity("mesh-x", "subnet-a", MeshRole.Node, "a1"), ["127.0.0.1"], Now, TimeSpan.FromDays(10));

        Assert.False(MeshChannels.ChainsTo(forged, ours));
    }

    [Fact]
    public void IdentifyPeer_SameConnectionCertificate_ChainedOnceButStillRefusedOnceExpired()
    {
        using var ca = CertificateAuthority.CreateRoot("mesh-x", Now, TimeSpan.FromDays(30));
        var identity = new MeshIdentity("mesh-x", "subnet-a", MeshRole.Node, "a1");
        using var certificate = CertificateAuthority.Issue(ca, identity, ["127.0.0.1"], Now, TimeSpan.FromDays(10));
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(Now);
        var trust = new MeshTrust(ca, "mesh-x", time);

        Assert.Equal(identity, trust.IdentifyPeer(certificate));
        Assert.Equal(identity, trust.IdentifyPeer(certificate));
        time.Advance(TimeSpan.FromDays(11));

        Assert.Null(trust.IdentifyPeer(certificate));
    }

    [Fact]
    public void IdentifyPeer_CertificateOfAnotherMeshOrCa_IsRefusedEveryTime()
    {
        using var ca = CertificateAuthority.CreateRoot("mesh-x", Now, TimeSpan.FromDays(30));
        using var other = CertificateAuthority.CreateRoot("mesh-x", Now, TimeSpan.FromDays(30));
        using var forged = CertificateAuthority.Issue(other, new MeshIdentity("mesh-x", "subnet-a", MeshRole.Node, "a1"), ["127.0.0.1"], Now, TimeSpan.FromDays(10));
        using var foreign = CertificateAuthority.Issue(ca, new MeshIdentity("mesh-y", "subnet-a", MeshRole.Node, "a1"), ["127.0.0.1"], Now, TimeSpan.FromDays(10));
        var trust = new MeshTrust(ca, "mesh-x");

        Assert.Null(trust.IdentifyPeer(forged));
        Assert.Null(trust.IdentifyPeer(forged));
        Assert.Null(trust.IdentifyPeer(foreign));
    }

    [Fact]
    public void TryParse_UriOfAnotherScheme_IsNoIdentity()
    {
        Assert.False(MeshIdentity.TryParse(new Uri("https://mesh-x/pool/a/node/b"), out _));
        Assert.False(MeshIdentity.TryParse(new Uri("spiffe://mesh-x/pool/a/robot/b"), out _));
        Assert.True(MeshIdentity.TryParse(new Uri("spiffe://mesh-x/pool/a/integrator/i1"), out var integrator));
        Assert.Equal(MeshRole.Integrator, integrator!.Role);
    }

    [Fact]
    public void EnsureForMesh_Integrator_GetsOneCertificatePerPool()
    {
        var directory = Directory.CreateTempSubdirectory("llmrouter-certs-");
        try
        {
            var yaml = $$"""
                mesh:
                  name: m
                  certificates: {{directory.FullName}}
                pools:
                  - name: pa
                    nodes:
                      - { id: a1, listen: "https://127.0.0.1:7101", backends: [ { id: s, kind: simulated, models: [ { id: x } ] } ] }
                  - name: pb
                    nodes:
                      - { id: b1, listen: "https://127.0.0.1:7201", backends: [ { id: s, kind: simulated, models: [ { id: y } ] } ] }
                integrators:
                  - id: i1
                    pools:
                      - { pool: pa, listen: "https://127.0.0.1:7301" }
                      - { pool: pb, listen: "https://127.0.0.1:7302" }
                """;
            var mesh = LlmRouter.Common.Configuration.MeshConfigLoader.Parse(yaml, "mesh.yaml", directory.FullName);
            var store = new CertificateStore(directory.FullName);

            var created = store.EnsureForMesh(mesh, Now);

            Assert.Equal(["ca", "a1", "b1", "i1.pa", "i1.pb", "client"], created);
            using var inA = store.LoadWithKey("i1.pa");
            Assert.Equal(new MeshIdentity("m", "pa", MeshRole.Integrator, "i1"), MeshIdentity.FromCertificate(inA));
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public void EnsureForMesh_CreatesMissingOnlyAndKeepsKeysPrivate()
    {
        var directory = Directory.CreateTempSubdirectory("llmrouter-certs-");
        try
        {
            var yaml = $"""
                mesh:
                  name: m
                  certificates: {directory.FullName}
                pools:
                  - name: p
                    nodes:
                      - id: n1
                        listen: https://127.0.0.1:7101
                        backends:
                          - id: sim
                            kind: simulated
                            models:
                              - id: m
                """;
            var mesh = LlmRouter.Common.Configuration.MeshConfigLoader.Parse(yaml, "mesh.yaml", directory.FullName);
            var store = new CertificateStore(directory.FullName);

            var first = store.EnsureForMesh(mesh, Now);
            var second = store.EnsureForMesh(mesh, Now);

            Assert.Equal(["ca", "n1", "client"], first);
            Assert.Empty(second);
            if (!OperatingSystem.IsWindows())
            {
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(store.KeyPath("n1")));
            }

            using var node = store.LoadWithKey("n1");
            Assert.Equal(new MeshIdentity("m", "p", MeshRole.Node, "n1"), MeshIdentity.FromCertificate(node));
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }
}
