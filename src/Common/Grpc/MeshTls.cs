using System.Security.Authentication;
using LlmRouter.Common.Identity;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Logging;

namespace LlmRouter.Common.Grpc;

/// <summary>A member's TLS settings on one listener: its own certificate, HTTP/2 only, client certificates checked against the mesh CA.</summary>
internal static partial class MeshTls
{
    [LoggerMessage(EventId = 5003, Level = LogLevel.Warning, Message = "Refused a TLS peer: certificate {Subject} issued by {Issuer} (valid until {NotAfter:u}) does not chain to the mesh CA, has expired or names no identity of this mesh")]
    private static partial void LogRefusedPeer(ILogger logger, string subject, string issuer, DateTime notAfter);

    public static HttpsConnectionAdapterOptions Options(MemberCertificate certificate, MeshTrust trust, ILogger logger)
    {
        return new HttpsConnectionAdapterOptions
        {
            // Read per handshake, so a rotated certificate is used from the next connection on.
            ServerCertificateSelector = (_, _) => certificate.Current,
            SslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            // Internal services may call the Router without a certificate; one that is presented must be
            // the mesh's. Node-to-node calls (gossip, forwarding) require one at the service level.
            ClientCertificateMode = ClientCertificateMode.AllowCertificate,
            ClientCertificateValidation = (certificate, chain, errors) =>
            {
                if (trust.ValidateClient(certificate, chain, errors))
                {
                    return true;
                }

                LogRefusedPeer(logger, certificate?.Subject ?? "(none)", certificate?.Issuer ?? "(none)", certificate?.NotAfter ?? default);
                return false;
            },
            CheckCertificateRevocation = false,
        };
    }
}
