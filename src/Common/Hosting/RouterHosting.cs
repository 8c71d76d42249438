using LlmRouter.Common.Access;
using Grpc.AspNetCore.Server.Model;
using Grpc.Health.V1;
using Grpc.HealthCheck;
using Grpc.Reflection;
using LlmRouter.Common.Configuration;
using LlmRouter.Common.Forwarding;
using LlmRouter.Common.Grpc;
using LlmRouter.Common.Identity;
using LlmRouter.Common.Membership;
using LlmRouter.Common.Pipeline;
using LlmRouter.Common.Quotas;
using LlmRouter.Common.Resilience;
using LlmRouter.Common.Routing;
using LlmRouter.Common.Services;
using LlmRouter.Common.Telemetry;
using LlmRouter.V1;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace LlmRouter.Common.Hosting;

/// <summary>
/// Wires the one request pipeline and the services every host serves (DESIGN.md section 11): Router,
/// Mesh, Admin, health and reflection, the memberships of its seats, drain, breakers, the channel cache.
/// A node and an integrator each call this once with their own <see cref="IRouterHost"/>; what they add
/// beside it is their own (a node's backends and records, an integrator's route advertising).
/// </summary>
internal static class RouterHosting
{
    // A push-pull carries every member's certificate and records: far larger than a request in a large pool.
    private const int MaxMembershipMessageBytes = 64 * 1024 * 1024;

    /// <summary>
    /// The web host of a mesh process: Kestrel with one listener per seat (<see cref="ListenOnSeats"/>), the
    /// process's logging, its seeds for service discovery, and a shutdown bound that covers the drain.
    /// </summary>
    /// <param name="lifetime">How the process's signals stop the host; null keeps the default (tests stop hosts themselves).</param>
    /// <param name="minimumLogLevel">The least level logged; null takes the mesh file's (telemetry.log_level).</param>
    /// <param name="metricsListen">Where the process's Prometheus endpoint listens (its <c>metrics_listen</c>); null: none.</param>
    public static WebApplicationBuilder CreateBuilder(
        string application, MeshConfig mesh, string self, Serilog.Events.LogEventLevel? minimumLogLevel, bool jsonLogs, IHostLifetime? lifetime, Uri? metricsListen)
    {
        TracePropagation.Enable();
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = application });
        builder.WebHost.UseKestrelCore().ConfigureKestrel(ListenOnSeats);
        if (metricsListen is not null)
        {
            builder.WebHost.ConfigureKestrel(kestrel => ListenForMetrics(kestrel, metricsListen));
        }

        builder.Services.AddMeshTelemetry(application, self, mesh, metricsListen);
        builder.Services.AddMeshAccess(mesh);
        builder.Services.AddMeshQuotas();
        builder.Services.AddRoutingCore();
        if (lifetime is not null)
        {
            builder.Services.AddSingleton(lifetime);
        }

        builder.Services.Configure<HostOptions>(host =>
            host.ShutdownTimeout = mesh.Server.DrainNotice + mesh.Server.DrainTimeout + TimeSpan.FromSeconds(5));
        builder.Services.AddProcessLogging(self, minimumLogLevel ?? mesh.Telemetry.LogLevel, jsonLogs);
        builder.Configuration.AddInMemoryCollection(SeedResolver.Configuration(mesh));
        return builder;
    }

    /// <param name="random">The process's one source of chance (STYLE.md 7, 18): tie breaks, backoff jitter, gossip's picks.</param>
    public static IServiceCollection AddRouterPipeline(
        this IServiceCollection services, Func<IServiceProvider, IRouterHost> host, MeshTrust trust, int maxRequestBytes, TimeProvider time, Func<double> random)
    {
        services.AddGrpc(grpc =>
        {
            grpc.MaxReceiveMessageSize = maxRequestBytes;
            grpc.MaxSendMessageSize = null;
            grpc.EnableDetailedErrors = false;
        }).AddServiceOptions<MeshService>(mesh => mesh.MaxReceiveMessageSize = MaxMembershipMessageBytes);
        services.AddSingleton(new RequestSizeSettings(maxRequestBytes));
        services.AddSingleton<IServiceMethodProvider<RouterService>>(
            new StrictServiceMethodProvider<RouterService>(binder => Router.BindService(binder, null!)));
        services.AddSingleton<IServiceMethodProvider<MeshService>>(
            new StrictServiceMethodProvider<MeshService>(binder => Mesh.BindService(binder, null!)));
        services.AddSingleton<IServiceMethodProvider<AdminService>>(
            new StrictServiceMethodProvider<AdminService>(binder => Admin.BindService(binder, null!)));

        // Reflection lists what the host serves; our services are bound by our provider, so they are named here.
        Google.Protobuf.Reflection.ServiceDescriptor[] reflected =
        [
            Router.Descriptor, Mesh.Descriptor, Admin.Descriptor, Health.Descriptor,
            global::Grpc.Reflection.V1.ServerReflection.Descriptor, global::Grpc.Reflection.V1Alpha.ServerReflection.Descriptor,
        ];
        services.AddSingleton(new ReflectionServiceImpl(reflected));
        services.AddSingleton(new ReflectionV1ServiceImpl(reflected));
        services.AddGrpcReflection();

        services.AddSingleton(time);
        services.AddSingleton(trust);
        services.AddSingleton(random);
        services.AddSingleton<IRouterHost>(host);
        services.AddServiceDiscoveryCore();
        services.AddConfigurationServiceEndpointProvider();
        services.AddPassThroughServiceEndpointProvider();
        services.AddSingleton<SeedResolver>();
        services.AddSingleton<HealthServiceImpl>();
        services.AddSingleton<DrainState>();
        services.AddSingleton(provider => new PeerChannels(trust.Authority, provider.GetRequiredService<IRouterHost>().Seats));
        services.AddSingleton<ForwardedLoad>();
        services.AddSingleton<CopyBreakers>();
        services.AddSingleton(new CandidateScorer(time, random));
        services.AddSingleton(provider => new CandidateSource(provider.GetRequiredService<IRouterHost>().Seats, provider.GetRequiredService<ForwardedLoad>()));
        services.AddSingleton<RouteRanker>();
        services.AddSingleton<RoutePlanner>();
        services.AddSingleton<Arrivals>();
        services.AddSingleton<Forwarder>();
        services.AddSingleton<IdempotentAnswers>();
        // The route log signs its checkpoints with the host's certificate (an integrator's first seat's: every seat's names it).
        services.AddSingleton(provider =>
        {
            var router = provider.GetRequiredService<IRouterHost>();
            return Audit.RouteLog.Open(router.Current.Mesh.Audit, router.Id, () => router.Seats[0].Certificate.Current, time,
                provider.GetRequiredService<ILoggerFactory>().CreateLogger<Audit.RouteLog>());
        });
        services.AddSingleton<Audit.RouteRecorder>();
        services.AddSingleton<Audit.CheckpointGossip>();
        services.AddHostedService(provider => provider.GetRequiredService<Audit.CheckpointGossip>());
        services.AddSingleton<ChatPipeline>();
        services.AddSingleton<EmbedPipeline>();
        services.AddSingleton<Protection.GuardrailWarmup>();
        services.AddHostedService(provider => provider.GetRequiredService<Protection.GuardrailWarmup>());

        // Memberships start once the listeners are up; health turns SERVING after them; drain leaves them.
        services.AddSingleton<SeatMemberships>();
        services.AddHostedService(provider => provider.GetRequiredService<SeatMemberships>());
        services.AddHostedService<DrainService>();
        return services;
    }

    /// <summary>One listener per seat, each presenting that seat's certificate and tagging its calls with the seat's pool.</summary>
    public static void ListenOnSeats(KestrelServerOptions kestrel)
    {
        MeshKestrel.ApplyLimits(kestrel);
        var host = kestrel.ApplicationServices.GetRequiredService<IRouterHost>();
        var trust = kestrel.ApplicationServices.GetRequiredService<MeshTrust>();
        var logger = kestrel.ApplicationServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(MeshTls));
        foreach (var seat in host.Seats)
        {
            MeshKestrel.Listen(kestrel, seat.Listen, MeshTls.Options(seat.Certificate, trust, logger), seat.Name);
        }
    }

    /// <summary>The HTTP ingress listener of a host with one seat (a node), presenting that seat's certificate under https.</summary>
    public static void ListenForIngress(KestrelServerOptions kestrel, Uri listen)
    {
        var seat = kestrel.ApplicationServices.GetRequiredService<IRouterHost>().Seats[0];
        var trust = kestrel.ApplicationServices.GetRequiredService<MeshTrust>();
        var logger = kestrel.ApplicationServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(MeshTls));
        var tls = listen.Scheme == Uri.UriSchemeHttps ? MeshTls.Options(seat.Certificate, trust, logger) : null;
        MeshKestrel.ListenIngress(kestrel, listen, tls, seat.Name);
    }

    /// <summary>
    /// The Prometheus endpoint of the process: under https it presents the certificate of the process's first
    /// seat and requires a client certificate from the mesh CA (a scraper holds one issued by <c>certs</c>).
    /// </summary>
    public static void ListenForMetrics(KestrelServerOptions kestrel, Uri listen)
    {
        HttpsConnectionAdapterOptions? tls = null;
        if (listen.Scheme == Uri.UriSchemeHttps)
        {
            var seat = kestrel.ApplicationServices.GetRequiredService<IRouterHost>().Seats[0];
            var trust = kestrel.ApplicationServices.GetRequiredService<MeshTrust>();
            var logger = kestrel.ApplicationServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(MeshTls));
            tls = MeshTls.Options(seat.Certificate, trust, logger);
            tls.ClientCertificateMode = ClientCertificateMode.RequireCertificate;
        }

        MeshKestrel.ListenMetrics(kestrel, listen, tls);
    }

    /// <summary>
    /// Maps the services every host serves; connections of an HTTP ingress listener go to the ingress alone,
    /// those of the metrics listener to the Prometheus endpoint alone.
    /// </summary>
    public static WebApplication MapRouterServices(this WebApplication app)
    {
        app.UseMetricsEndpoint();
        app.UseMiddleware<Ingress.HttpIngress>();
        app.UseMiddleware<RequestSizeLimit>(app.Services.GetRequiredService<RequestSizeSettings>().MaxRequestBytes);
        app.UseRouting();
        app.MapGrpcService<RouterService>();
        app.MapGrpcService<MeshService>();
        app.MapGrpcService<AdminService>();
        app.MapGrpcService<HealthService>();
        app.MapGrpcReflectionService();
        return app;
    }
}

/// <summary>server.max_request_bytes, as the request size limit reads it.</summary>
internal sealed record RequestSizeSettings(int MaxRequestBytes);
