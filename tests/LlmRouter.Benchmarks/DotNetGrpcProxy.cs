using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using LlmRouter.Common.Identity;

namespace LlmRouter.Benchmarks;

/// <summary>
/// The floor of a .NET gRPC hop, for the peer benchmark: Kestrel takes the call over HTTP/2 with mutual TLS
/// (the node's limits and certificate check), HttpClient sends it on over HTTP/2 with mutual TLS, and the
/// answer's frames are copied back as they arrive (each read flushed), then its trailers; nothing parsed,
/// routed or decided. Our forwarding hop does all of this plus its own work, so the gap between the two
/// is ours, and the gap between this and nginx grpc_pass is the framework's.
/// </summary>
internal static class DotNetGrpcProxy
{
    /// <summary><c>llmrouter-bench serve-dotnet-grpc-proxy CERTIFICATES MEMBER PORT UPSTREAM_PORT</c>: the proxy, presenting MEMBER's certificate both ways, until killed.</summary>
    public static async Task<int> ServeAsync(string certificates, string member, int port, int upstreamPort)
    {
        var store = new CertificateStore(certificates);
        var certificate = store.LoadWithKey(member);
        var authority = store.LoadCertificate(CertificateStore.CaName);
        var builder = LoopbackMeshTls.Builder(store, member, port);
        using var upstream = new HttpMessageInvoker(new SocketsHttpHandler
        {
            EnableMultipleHttp2Connections = true,
            PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
            UseProxy = false,
            SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, presented, _, _) => presented is X509Certificate2 server && MeshChannels.ChainsTo(server, authority),
                ClientCertificates = [certificate],
            },
        });
        var target = new Uri($"https://localhost:{upstreamPort}/");
        await DotNetProxy.ServeAsync(builder, context => ForwardAsync(context, upstream, target), $"dotnet grpc proxy serving on https://127.0.0.1:{port} in front of {target}");
        return 0;
    }

    private static async Task ForwardAsync(HttpContext context, HttpMessageInvoker upstream, Uri target)
    {
        var aborted = context.RequestAborted;
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(target, context.Request.Path))
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new StreamContent(context.Request.Body),
        };
        foreach (var (name, value) in context.Request.Headers)
        {
            if (name.StartsWith(':') || name.Equals("host", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            if (!request.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)value))
            {
                request.Content.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)value);
            }
        }

        using var response = await upstream.SendAsync(request, aborted);
        context.Response.StatusCode = (int)response.StatusCode;
        foreach (var (name, values) in response.Headers.Concat(response.Content.Headers))
        {
            context.Response.Headers[name] = values.ToArray();
        }

        await DotNetProxy.CopyFlushingAsync(response, context.Response, aborted);

        foreach (var (name, values) in response.TrailingHeaders)
        {
            context.Response.AppendTrailer(name, values.ToArray());
        }
    }
}
