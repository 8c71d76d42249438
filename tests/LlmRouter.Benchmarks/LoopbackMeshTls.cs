using System.Net;
using System.Security.Cryptography.X509Certificates;
using LlmRouter.Common.Identity;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace LlmRouter.Benchmarks;

/// <summary>The gRPC servers of the benchmarks that stand where a node would (the echo, the bare .NET gRPC proxy): Kestrel with a node's limits, HTTP/2 on loopback, mutual TLS against the mesh CA, no logging.</summary>
internal static class LoopbackMeshTls
{
    /// <param name="member">The mesh member whose certificate the server presents (as that member would).</param>
    public static WebApplicationBuilder Builder(CertificateStore store, string member, int port)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        var certificate = store.LoadWithKey(member);
        var authority = store.LoadCertificate(CertificateStore.CaName);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            LlmRouter.Common.Hosting.MeshKestrel.ApplyLimits(kestrel);
            kestrel.Listen(IPAddress.Loopback, port, endpoint =>
            {
                endpoint.Protocols = HttpProtocols.Http2;
                endpoint.UseHttps(new HttpsConnectionAdapterOptions
                {
                    ServerCertificate = certificate,
                    ClientCertificateMode = ClientCertificateMode.RequireCertificate,
                    ClientCertificateValidation = (presented, _, _) => MeshChannels.ChainsTo(presented, authority),
                });
            });
        });
        return builder;
    }
}
