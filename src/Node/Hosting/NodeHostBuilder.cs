using LlmRouter.Common.Hosting;
using LlmRouter.Common.Identity;
using LlmRouter.Common.Membership;
using LlmRouter.Node.Backends;
using LlmRouter.Node.Catalog;
using LlmRouter.Node.Chat;
using LlmRouter.Node.Embeddings;
using LlmRouter.Node.Membership;

namespace LlmRouter.Node.Hosting;

/// <summary>
/// Builds the node's web host: the one request pipeline and its services (<see cref="RouterHosting"/>) on
/// a listener in the node's pool, with what is the node's own: its backends, its records, config reload.
/// </summary>
internal static class NodeHostBuilder
{
    public static WebApplication Build(NodeLaunch launch)
    {
        var mesh = launch.Mesh;
        var node = mesh.FindNode(launch.NodeId) ?? throw new InvalidOperationException(
            $"{mesh.SourcePath}: no node '{launch.NodeId}' (nodes: {string.Join(", ", mesh.AllNodes.Select(n => n.Id))})");
        var store = new CertificateStore(mesh.CertificatesDirectory);
        var trust = new MeshTrust(store.LoadCertificate(CertificateStore.CaName), mesh.Name);
        var builder = RouterHosting.CreateBuilder("llm-router-node", mesh, node.Id, launch.MinimumLogLevel, launch.JsonLogs, launch.Lifetime,
            launch.MetricsListenOverride ?? node.MetricsListen);
        builder.Services.AddLlmRouterNode(launch, node, trust, store);
        if ((launch.HttpListenOverride ?? node.HttpListen) is { } httpListen)
        {
            builder.WebHost.ConfigureKestrel(kestrel => RouterHosting.ListenForIngress(kestrel, httpListen));
        }

        return builder.Build().MapRouterServices();
    }

    /// <summary>Registers the pipeline with the node as its host, and the node's own parts: backends, records, reload.</summary>
    public static IServiceCollection AddLlmRouterNode(this IServiceCollection services, NodeLaunch launch, Common.Configuration.NodeConfig node, MeshTrust trust, CertificateStore store)
    {
        var mesh = launch.Mesh;
        services.AddRouterPipeline(provider => provider.GetRequiredService<NodeRouterHost>(), trust, mesh.Server.MaxRequestBytes, launch.Time, launch.Random);
        services.AddSingleton(store);
        services.AddSingleton(provider => new PoolSeat(node.Pool, launch.ListenOverride ?? node.Listen, new MemberCertificate(
            store, launch.NodeId, trust, launch.Time, provider.GetRequiredService<ILogger<MemberCertificate>>())));
        services.AddSingleton(provider => new BackendFactory(launch.Time, launch.Environment, launch.Random));
        services.AddSingleton(provider =>
        {
            var catalog = new NodeCatalog(mesh, launch.NodeId, provider.GetRequiredService<BackendFactory>());
            provider.GetRequiredService<Common.Telemetry.BackendMetrics>().ObserveAdmission(() =>
                catalog.Current.Backends.Select(backend => (backend.Id, backend.Admission.Running, backend.Admission.Queued)));
            return catalog;
        });
        services.AddSingleton<LocalChatExecutor>();
        services.AddSingleton<LocalEmbedder>();
        services.AddSingleton<LocalBackends>();
        services.AddSingleton<NodeRouterHost>();
        services.AddSingleton<NodeRecords>();
        services.AddHostedService(provider => provider.GetRequiredService<NodeRecords>());
        services.AddHostedService<ConfigReloader>();
        return services;
    }
}
