using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace LlmRouter.Common.Hosting;

/// <summary>The Kestrel server of every mesh process (node, integrator): its HTTP/2 limits and its mutual-TLS listeners.</summary>
public static class MeshKestrel
{
    /// <summary>Limits for long-lived streams: thousands on few connections, and a caller behind a cut link noticed.</summary>
    public static void ApplyLimits(KestrelServerOptions kestrel)
    {
        kestrel.AddServerHeader = false;
        kestrel.Limits.Http2.MaxStreamsPerConnection = 1000;
        // A caller behind a cut link is noticed within about 10 s and its calls cancelled (the backend stops).
        kestrel.Limits.Http2.KeepAlivePingDelay = TimeSpan.FromSeconds(5);
        kestrel.Limits.Http2.KeepAlivePingTimeout = TimeSpan.FromSeconds(5);
    }

    /// <summary>
    /// Listens on every address of the configured URL's host and port: HTTP/2 only, behind the given TLS.
    /// With a seat, every connection is tagged with its pool (<see cref="ListenerSeat"/>), so calls are
    /// answered for the pool whose listener was called.
    /// </summary>
    public static void Listen(KestrelServerOptions kestrel, Uri listen, HttpsConnectionAdapterOptions tls, string? seat = null)
    {
        foreach (var address in AddressesOf(listen.Host))
        {
            kestrel.Listen(address, listen.Port, endpoint =>
            {
                endpoint.Protocols = HttpProtocols.Http2;
                if (seat is not null)
                {
                    var tag = new ListenerSeat(seat);
                    endpoint.Use(next => connection =>
                    {
                        connection.Features.Set(tag);
                        return next(connection);
                    });
                }

                endpoint.UseHttps(tls);
            });
        }
    }

    /// <summary>
    /// The HTTP ingress listener (<c>http_listen</c>): HTTP/1.1 (and HTTP/2 by ALPN under TLS), plain for an
    /// http URL, TLS with the node's certificate and an optional client certificate for https. Its
    /// connections are tagged, so only the ingress answers them and it answers nothing else.
    /// </summary>
    public static void ListenIngress(KestrelServerOptions kestrel, Uri listen, HttpsConnectionAdapterOptions? tls, string pool)
    {
        var seat = new ListenerSeat(pool);
        var ingress = new Ingress.IngressListener(pool);
        foreach (var address in AddressesOf(listen.Host))
        {
            kestrel.Listen(address, listen.Port, endpoint =>
            {
                endpoint.Protocols = tls is null ? HttpProtocols.Http1 : HttpProtocols.Http1AndHttp2;
                endpoint.Use(next => connection =>
                {
                    connection.Features.Set(seat);
                    connection.Features.Set(ingress);
                    return next(connection);
                });
                if (tls is not null)
                {
                    endpoint.UseHttps(tls);
                }
            });
        }
    }

    /// <summary>
    /// The Prometheus endpoint (<c>metrics_listen</c>): HTTP/1.1, plain for an http URL (loopback only, as the
    /// mesh file allows), TLS with the process's certificate for https, where the scraper must present a
    /// client certificate from the mesh CA. Its connections are tagged: only <c>/metrics</c> answers them.
    /// </summary>
    public static void ListenMetrics(KestrelServerOptions kestrel, Uri listen, HttpsConnectionAdapterOptions? tls)
    {
        var tag = new Telemetry.MetricsListener();
        foreach (var address in AddressesOf(listen.Host))
        {
            kestrel.Listen(address, listen.Port, endpoint =>
            {
                endpoint.Protocols = HttpProtocols.Http1;
                endpoint.Use(next => connection =>
                {
                    connection.Features.Set(tag);
                    return next(connection);
                });
                if (tls is not null)
                {
                    endpoint.UseHttps(tls);
                }
            });
        }
    }

    private static IEnumerable<IPAddress> AddressesOf(string host)
    {
        if (IPAddress.TryParse(host.Trim('[', ']'), out var address))
        {
            return [address];
        }

        return string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase)
            ? [IPAddress.Loopback]
            : Dns.GetHostAddresses(host);
    }
}
