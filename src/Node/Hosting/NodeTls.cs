using System.Security.Authentication;
using LlmRouter.Common.Identity;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace LlmRouter.Node.Hosting;

/// <summary>The node's TLS settings: its own certificate, HTTP/2 only, client certificates checked against the mesh CA.</summary>
internal static class NodeTls
{
    public static HttpsConnectionAdapterOptions Options(CertificateStore store, string nodeId, MeshTrust trust)
    {
        var certificate = store.LoadWithKey(nodeId);
        return new HttpsConnectionAdapterOptions
        {
            ServerCertificate = certificate,
            SslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            // Internal services may call the Router without a certificate; one that is presented must be
            // the mesh's. Node-to-node calls (gossip, forwarding) require one at the service level.
            ClientCertificateMode = ClientCertificateMode.AllowCertificate,
            ClientCertificateValidation = trust.ValidateClient,
            CheckCertificateRevocation = false,
        };
    }
}
