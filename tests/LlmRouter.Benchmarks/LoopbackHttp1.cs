using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace LlmRouter.Benchmarks;

/// <summary>The plain servers of the peer benchmark (the mock, the bare .NET proxy): Kestrel, HTTP/1.1 on loopback, no logging, no connection limit.</summary>
internal static class LoopbackHttp1
{
    public static WebApplicationBuilder Builder(int port)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxConcurrentConnections = null;
            kestrel.Listen(IPAddress.Loopback, port, endpoint => endpoint.Protocols = HttpProtocols.Http1);
        });
        return builder;
    }
}
