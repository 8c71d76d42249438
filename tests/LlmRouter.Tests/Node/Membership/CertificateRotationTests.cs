using LlmRouter.Common.Membership;
using LlmRouter.Common.Grpc;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using LlmRouter.Common.Identity;
using LlmRouter.Node.Hosting;
using LlmRouter.Tests.Infrastructure;
using LlmRouter.V1;
using Microsoft.Extensions.DependencyInjection;

namespace LlmRouter.Tests.Node.Membership;

/// <summary>Certificates rotate without a restart: new handshakes use the new one and the pool learns its key.</summary>
public sealed class CertificateRotationTests
{
    [Fact]
    public async Task NewCertificateFiles_UsedForNewConnectionsAndAnnouncedToThePool()
    {
        await using var mesh = await TestMesh.StartAsync(2);
        var (n1, n2) = (mesh.Nodes[0], mesh.Nodes[1]);
        await Eventually.WaitUntil(() => Alive(n1, "n2") is not null, "n1 sees n2", () => "not yet");
        var before = n2.Seat.Certificate.Current.Thumbprint;
        var incarnationBefore = Alive(n1, "n2")!.Incarnation;

        var store = new CertificateStore(mesh.Mesh.CertificatesDirectory);
        using (var ca = store.LoadWithKey("ca"))
        using (var renewed = CertificateAuthority.Issue(ca, new MeshIdentity("test", "pool-a", MeshRole.Node, "n2"), ["127.0.0.1"], TimeProvider.System.GetUtcNow(), TimeSpan.FromDays(1)))
        {
            store.Save("n2", renewed);
        }

        await Eventually.WaitUntil(() => Alive(n1, "n2") is { } seen && seen.Incarnation > incarnationBefore,
            "n1 learns n2's new certificate through a new alive update", () => $"{Alive(n1, "n2")}");
        var presented = await ServerCertificate(n2.Address);
        Assert.NotEqual(before, presented.Thumbprint);
        Assert.Equal(n2.Seat.Certificate.Current.Thumbprint, presented.Thumbprint);

        // Records signed with the new key verify at n1: load records keep arriving.
        var loadSequence = Alive(n1, "n2")?.Load?.Sequence ?? 0;
        await Eventually.WaitUntil(() => Alive(n1, "n2")?.Load?.Sequence > loadSequence, "n2's records verify with its new key",
            () => $"{Alive(n1, "n2")}");
    }

    private static LlmRouter.Common.Gossip.MemberView? Alive(TestNode observer, string member) =>
        observer.Seat.Membership!.Read(state => state.Find(member)) is { Status: MemberStatus.Alive } view ? view : null;

    private static async Task<X509Certificate2> ServerCertificate(Uri address)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(address.Host, address.Port);
        X509Certificate2? presented = null;
        await using var tls = new SslStream(client.GetStream(), false, (_, certificate, _, _) =>
        {
            presented = new X509Certificate2(certificate!);
            return true;
        });
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = address.Host,
            ApplicationProtocols = [SslApplicationProtocol.Http2],
        });
        return presented!;
    }
}
