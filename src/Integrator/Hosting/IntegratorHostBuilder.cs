using Grpc.AspNetCore.Server.Model;
using Grpc.Health.V1;
using Grpc.HealthCheck;
using Grpc.Reflection;
using LlmRouter.Common.Grpc;
using LlmRouter.Common.Hosting;
using LlmRouter.Common.Identity;
using LlmRouter.Common.Membership;
using LlmRouter.Integrator.Border;
using LlmRouter.Integrator.Relay;
using LlmRouter.Integrator.Services;
using LlmRouter.V1;

namespace LlmRouter.Integrator.Hosting;

/// <summary>
/// Builds the integrator's web host: one HTTP/2 TLS listener per pool, each presenting that pool's
/// certificate; the Router (relay), Mesh, Health and reflection services on all of them.
/// </summary>
internal static class IntegratorHostBuilder
{
    public static WebApplication Build(IntegratorLaunch launch)
    {
        TracePropagation.Enable();
        var mesh = launch.Mesh;
        var config = launch.Config;
        var store = new CertificateStore(mesh.CertificatesDirectory);
        var trust = new MeshTrust(store.LoadCertificate(CertificateStore.CaName), mesh.Name);

        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = "llm-router-integrator" });
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel =>
        {
            MeshKestrel.ApplyLimits(kestrel);
            var pools = kestrel.ApplicationServices.GetRequiredService<BorderPools>();
            var logger = kestrel.ApplicationServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(MeshTls));
            foreach (var pool in pools.All)
            {
                // Each pool's listener presents that pool's certificate.
                MeshKestrel.Listen(kestrel, pool.Listen, MeshTls.Options(pool.Certificate, trust, logger));
            }
        });
        builder.Services.AddRoutingCore();
        if (launch.Lifetime is { } lifetime)
        {
            builder.Services.AddSingleton(lifetime);
        }

        builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = mesh.Server.DrainTimeout + TimeSpan.FromSeconds(5));
        builder.Services.AddProcessLogging(config.Id, launch.MinimumLogLevel, launch.JsonLogs);

        builder.Configuration.AddInMemoryCollection(SeedResolver.Configuration(mesh));
        builder.Services.AddLlmRouterIntegrator(launch, trust, store);
        var app = builder.Build();
        app.UseRouting();
        app.MapGrpcService<IntegratorRouterService>();
        app.MapGrpcService<IntegratorMeshService>();
        app.MapGrpcService<HealthServiceImpl>();
        app.MapGrpcReflectionService();
        return app;
    }

    public static IServiceCollection AddLlmRouterIntegrator(this IServiceCollection services, IntegratorLaunch launch, MeshTrust trust, CertificateStore store)
    {
        services.AddGrpc(grpc =>
        {
            grpc.MaxReceiveMessageSize = launch.Mesh.Server.MaxRequestBytes;
            grpc.MaxSendMessageSize = null;
            grpc.EnableDetailedErrors = false;
        });
        services.AddSingleton<IServiceMethodProvider<IntegratorRouterService>>(
            new StrictServiceMethodProvider<IntegratorRouterService>(binder => Router.BindService(binder, null!)));
        services.AddSingleton<IServiceMethodProvider<IntegratorMeshService>>(
            new StrictServiceMethodProvider<IntegratorMeshService>(binder => Mesh.BindService(binder, null!)));
        Google.Protobuf.Reflection.ServiceDescriptor[] reflected =
        [
            Router.Descriptor, Mesh.Descriptor, Health.Descriptor,
            Grpc.Reflection.V1.ServerReflection.Descriptor, Grpc.Reflection.V1Alpha.ServerReflection.Descriptor,
        ];
        services.AddSingleton(new ReflectionServiceImpl(reflected));
        services.AddSingleton(new ReflectionV1ServiceImpl(reflected));
        services.AddGrpcReflection();

        services.AddSingleton(launch);
        services.AddSingleton(launch.Time);
        services.AddSingleton(trust);
        services.AddSingleton(store);
        services.AddServiceDiscoveryCore();
        services.AddConfigurationServiceEndpointProvider();
        services.AddPassThroughServiceEndpointProvider();
        services.AddSingleton<SeedResolver>();
        services.AddSingleton<HealthServiceImpl>();
        services.AddSingleton<BorderPools>();
        services.AddHostedService(provider => provider.GetRequiredService<BorderPools>());
        services.AddHostedService<IntegratorHealth>();
        services.AddSingleton<RouteAdvertiser>();
        services.AddHostedService(provider => provider.GetRequiredService<RouteAdvertiser>());
        services.AddSingleton(provider => new BorderTargets(provider.GetRequiredService<BorderPools>(), launch.Config.Export));
        services.AddSingleton<BorderClients>();
        services.AddSingleton<ChatRelay>();
        services.AddSingleton<EmbedRelay>();
        return services;
    }
}
