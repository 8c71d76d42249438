using LlmRouter.Common.Hosting;
using LlmRouter.Common.Identity;
using LlmRouter.Integrator.Border;

namespace LlmRouter.Integrator.Hosting;

/// <summary>
/// Builds the integrator's web host: the one request pipeline and its services (<see cref="RouterHosting"/>)
/// on one listener per pool, each presenting that pool's certificate, with what is the integrator's own:
/// advertising what lies behind each border as routes.
/// </summary>
internal static class IntegratorHostBuilder
{
    public static WebApplication Build(IntegratorLaunch launch)
    {
        var mesh = launch.Mesh;
        var store = new CertificateStore(mesh.CertificatesDirectory);
        var trust = new MeshTrust(store.LoadCertificate(CertificateStore.CaName), mesh.Name);
        var builder = RouterHosting.CreateBuilder("llm-router-integrator", mesh, launch.Config.Id, launch.MinimumLogLevel, launch.JsonLogs, launch.Lifetime,
            launch.MetricsListenOverride ?? launch.Config.MetricsListen);
        builder.Services.AddLlmRouterIntegrator(launch, trust, store);
        return builder.Build().MapRouterServices();
    }

    /// <summary>Registers the pipeline with the integrator as its host, and its route advertising.</summary>
    public static IServiceCollection AddLlmRouterIntegrator(this IServiceCollection services, IntegratorLaunch launch, MeshTrust trust, CertificateStore store)
    {
        services.AddRouterPipeline(provider => provider.GetRequiredService<IntegratorRouterHost>(), trust, launch.Mesh.Server.MaxRequestBytes, launch.Time, launch.Random);
        services.AddSingleton(launch);
        services.AddSingleton(store);
        services.AddSingleton<IntegratorRouterHost>();
        services.AddSingleton<RouteAdvertiser>();
        services.AddHostedService(provider => provider.GetRequiredService<RouteAdvertiser>());
        return services;
    }
}
