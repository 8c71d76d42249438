using LlmRouter.Common.Membership;
using Grpc.AspNetCore.Server.Model;
using Grpc.Health.V1;
using Grpc.HealthCheck;
using Grpc.Reflection;
using LlmRouter.Common.Grpc;
using LlmRouter.Common.Hosting;
using LlmRouter.Common.Identity;
using LlmRouter.Node.Backends;
using LlmRouter.Node.Catalog;
using LlmRouter.Node.Chat;
using LlmRouter.Node.Embeddings;
using LlmRouter.Node.Forwarding;
using LlmRouter.Node.Membership;
using LlmRouter.Node.Resilience;
using LlmRouter.Node.Routing;
using LlmRouter.Node.Services;
using LlmRouter.V1;

namespace LlmRouter.Node.Hosting;

/// <summary>Builds the node's web host: Kestrel with HTTP/2 over TLS, the gRPC services, health, reflection, drain.</summary>
internal static class NodeHostBuilder
{
    public static WebApplication Build(NodeLaunch launch)
    {
        TracePropagation.Enable();
        var mesh = launch.Mesh;
        var node = mesh.FindNode(launch.NodeId) ?? throw new InvalidOperationException(
            $"{mesh.SourcePath}: no node '{launch.NodeId}' (nodes: {string.Join(", ", mesh.AllNodes.Select(n => n.Id))})");
        var store = new CertificateStore(mesh.CertificatesDirectory);
        var trust = new MeshTrust(store.LoadCertificate(CertificateStore.CaName), mesh.Name);

        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = "llm-router-node" });
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel =>
        {
            MeshKestrel.ApplyLimits(kestrel);
            var tls = MeshTls.Options(
                kestrel.ApplicationServices.GetRequiredService<MemberCertificate>(),
                trust,
                kestrel.ApplicationServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(MeshTls)));
            MeshKestrel.Listen(kestrel, launch.ListenOverride ?? node.Listen, tls);
        });
        builder.Services.AddRoutingCore();
        if (launch.Lifetime is { } lifetime)
        {
            builder.Services.AddSingleton(lifetime);
        }

        builder.Services.Configure<HostOptions>(host =>
            host.ShutdownTimeout = mesh.Server.DrainNotice + mesh.Server.DrainTimeout + TimeSpan.FromSeconds(5));

        builder.Services.AddProcessLogging(node.Id, launch.MinimumLogLevel, launch.JsonLogs);

        builder.Configuration.AddInMemoryCollection(SeedResolver.Configuration(mesh));
        builder.Services.AddLlmRouterNode(launch, trust);
        var app = builder.Build();
        app.UseRouting();
        app.MapGrpcService<RouterService>();
        app.MapGrpcService<MeshService>();
        app.MapGrpcService<AdminService>();
        app.MapGrpcService<NodeHealthService>();
        app.MapGrpcReflectionService();
        return app;
    }

    /// <summary>Registers the node's services: configuration, backends, routing, chat, health and drain.</summary>
    public static IServiceCollection AddLlmRouterNode(this IServiceCollection services, NodeLaunch launch, MeshTrust trust)
    {
        var mesh = launch.Mesh;
        services.AddGrpc(grpc =>
        {
            grpc.MaxReceiveMessageSize = mesh.Server.MaxRequestBytes;
            grpc.MaxSendMessageSize = null;
            grpc.EnableDetailedErrors = false;
        });
        services.AddSingleton<IServiceMethodProvider<RouterService>>(
            new StrictServiceMethodProvider<RouterService>(binder => Router.BindService(binder, null!)));
        services.AddSingleton<IServiceMethodProvider<MeshService>>(
            new StrictServiceMethodProvider<MeshService>(binder => Mesh.BindService(binder, null!)));
        services.AddSingleton<IServiceMethodProvider<AdminService>>(
            new StrictServiceMethodProvider<AdminService>(binder => Admin.BindService(binder, null!)));

        // Reflection lists what this node serves; our services are bound by our provider, so they are named here.
        Google.Protobuf.Reflection.ServiceDescriptor[] reflected =
        [
            Router.Descriptor, Mesh.Descriptor, Admin.Descriptor, Health.Descriptor,
            Grpc.Reflection.V1.ServerReflection.Descriptor, Grpc.Reflection.V1Alpha.ServerReflection.Descriptor,
        ];
        services.AddSingleton(new ReflectionServiceImpl(reflected));
        services.AddSingleton(new ReflectionV1ServiceImpl(reflected));
        services.AddGrpcReflection();
        services.AddSingleton(launch.Time);
        services.AddSingleton(trust);
        var store = new CertificateStore(mesh.CertificatesDirectory);
        services.AddSingleton(store);
        services.AddSingleton(provider => new MemberCertificate(
            store, launch.NodeId, trust, launch.Time, provider.GetRequiredService<ILogger<MemberCertificate>>()));
        services.AddServiceDiscoveryCore();
        services.AddConfigurationServiceEndpointProvider();
        services.AddPassThroughServiceEndpointProvider();
        services.AddSingleton<SeedResolver>();
        services.AddSingleton<MembershipRuntime>();
        services.AddHostedService(provider => provider.GetRequiredService<MembershipRuntime>());
        services.AddSingleton<HealthServiceImpl>();
        services.AddSingleton<DrainState>();
        services.AddSingleton(provider => new BackendFactory(launch.Time, launch.Environment));
        services.AddSingleton(provider => new NodeCatalog(mesh, launch.NodeId, provider.GetRequiredService<BackendFactory>()));
        services.AddSingleton(new CandidateScorer(launch.Time, Random.Shared.NextDouble));
        services.AddSingleton<CandidateSource>();
        services.AddSingleton<ForwardedLoad>();
        services.AddSingleton<BackendBreakers>();
        services.AddSingleton<IdempotentAnswers>();
        services.AddSingleton<RouteRanker>();
        services.AddSingleton<PeerClients>();
        services.AddSingleton<RemoteChatExecutor>();
        services.AddSingleton<LocalChatExecutor>();
        services.AddSingleton<ChatCoordinator>();
        services.AddSingleton<EmbedHandler>();
        services.AddHostedService<DrainService>();
        services.AddHostedService<ConfigReloader>();
        return services;
    }
}
