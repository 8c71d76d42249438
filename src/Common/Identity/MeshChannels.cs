using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Grpc.Net.Client;

namespace LlmRouter.Common.Identity;

/// <summary>
/// gRPC channels to mesh nodes: HTTP/2 over TLS, the server certificate checked against the mesh CA only,
/// and this process's certificate presented when it has one (mutual TLS).
/// </summary>
public static class MeshChannels
{
    public static GrpcChannel Create(Uri address, X509Certificate2 authority, X509Certificate2? clientCertificate, int? maxReceiveBytes = null)
    {
        var handler = Telemetry.TraceContextHandler.Disable(new SocketsHttpHandler
        {
            EnableMultipleHttp2Connections = true,
            PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
            // A peer behind a cut link is noticed within about 10 s, so its streams end with a status and fail over.
            KeepAlivePingDelay = TimeSpan.FromSeconds(5),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(5),
            ConnectTimeout = TimeSpan.FromSeconds(10),
            SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, certificate, _, _) =>
                    certificate is X509Certificate2 presented && ChainsTo(presented, authority),
                ClientCertificates = clientCertificate is null ? null : new X509CertificateCollection { clientCertificate },
            },
        });
        return GrpcChannel.ForAddress(address, new GrpcChannelOptions
        {
            // The call's context goes in its headers from the gRPC client span (a forward's), which the next hop's
            // request span takes as its parent (TraceContextHandler).
            HttpHandler = new Telemetry.TraceContextHandler(handler),
            DisposeHttpClient = true,
            MaxReceiveMessageSize = maxReceiveBytes ?? 16 * 1024 * 1024,
            // Membership, not the channel, decides whether a peer is worth calling: a peer that restarted is
            // announced alive by gossip, and calls to it must connect then, not after a backoff grown while
            // it was down (the default grows to 120 s; a call in backoff fails at once).
            InitialReconnectBackoff = TimeSpan.FromMilliseconds(200),
            MaxReconnectBackoff = TimeSpan.FromSeconds(1),
        });
    }

    /// <summary>True when the certificate chains to <paramref name="authority"/> and is within its validity period.</summary>
    public static bool ChainsTo(X509Certificate2 certificate, X509Certificate2 authority)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(authority);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(certificate);
    }
}
