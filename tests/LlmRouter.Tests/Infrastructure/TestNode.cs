using Grpc.Health.V1;
using Grpc.Net.Client;
using LlmRouter.Common.Configuration;
using LlmRouter.Common.Identity;
using LlmRouter.Common.Membership;
using LlmRouter.Node.Catalog;
using LlmRouter.Node.Hosting;
using LlmRouter.V1;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace LlmRouter.Tests.Infrastructure;

/// <summary>
/// One real node for a test: the mesh file written to a temporary directory, development certificates
/// created there, Kestrel on a loopback port chosen by the OS, and a mutual-TLS client channel to it.
/// </summary>
internal sealed class TestNode : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly DirectoryInfo? _directory;
    private readonly List<GrpcChannel> _channels = [];

    private TestNode(WebApplication app, DirectoryInfo? directory, MeshConfig mesh, Uri address)
    {
        _app = app;
        _directory = directory;
        Mesh = mesh;
        Address = address;
        Channel = OpenChannel();
    }

    public MeshConfig Mesh { get; }

    public Uri Address { get; }

    /// <summary>The base URL of the node's HTTP ingress (OpenAI and Anthropic APIs), when it has one.</summary>
    public Uri? IngressAddress { get; private init; }

    public GrpcChannel Channel { get; }

    public string ConfigPath => Mesh.SourcePath;

    public Router.RouterClient Router => new(Channel);

    public Health.HealthClient Health => new(Channel);

    public Admin.AdminClient Admin => new(Channel);

    public NodeCatalog Catalog => _app.Services.GetRequiredService<NodeCatalog>();

    /// <summary>The node's seat in its pool: its certificate and its membership.</summary>
    public PoolSeat Seat => _app.Services.GetRequiredService<PoolSeat>();

    public IServiceProvider Services => _app.Services;

    /// <summary>Writes the mesh file and certificates to a new directory and starts one node of it on a free port.</summary>
    /// <param name="httpIngress">Also listen for the HTTP ingress, on a free loopback port.</param>
    /// <param name="ingressTls">Serve the ingress over TLS with the node's certificate (https) instead of plain http.</param>
    public static async Task<TestNode> StartAsync(string yaml, string nodeId = "n1", Func<string, string?>? environment = null, bool httpIngress = false, bool ingressTls = false)
    {
        var directory = Directory.CreateTempSubdirectory("llmrouter-test-");
        var path = Path.Combine(directory.FullName, "mesh.yaml");
        await File.WriteAllTextAsync(path, yaml);
        var mesh = MeshConfigLoader.Load(path);
        new CertificateStore(mesh.CertificatesDirectory).EnsureForMesh(mesh, TimeProvider.System.GetUtcNow());
        return await StartCoreAsync(mesh, nodeId, directory, new Uri("https://127.0.0.1:0"), environment,
            httpIngress ? new Uri($"{(ingressTls ? "https" : "http")}://127.0.0.1:{TestMesh.FreePort()}") : null);
    }

    /// <summary>Starts one node of an existing mesh file on its configured address (certificates must exist).</summary>
    public static Task<TestNode> StartAsync(MeshConfig mesh, string nodeId, DirectoryInfo? owned = null, Uri? listen = null, Func<string, string?>? environment = null) =>
        StartCoreAsync(mesh, nodeId, owned, listen, environment, null);

    private static async Task<TestNode> StartCoreAsync(MeshConfig mesh, string nodeId, DirectoryInfo? owned, Uri? listen, Func<string, string?>? environment, Uri? httpListen)
    {
        var app = NodeHostBuilder.Build(new NodeLaunch(mesh, nodeId, JsonLogs: false)
        {
            ListenOverride = listen,
            HttpListenOverride = httpListen,
            Environment = environment ?? (_ => null),
        });
        await app.StartAsync();
        var ingress = httpListen ?? mesh.FindNode(nodeId)?.HttpListen;
        var metrics = mesh.FindNode(nodeId)?.MetricsListen;
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses
            .Select(a => new Uri(a))
            .First(a => a.Port != ingress?.Port && a.Port != metrics?.Port);
        return new TestNode(app, owned, mesh, address) { IngressAddress = ingress };
    }

    /// <summary>Waits until this node knows, through gossip, at least <paramref name="copies"/> copies of a model in its pool.</summary>
    public Task KnowsModelAsync(string model, int copies = 1) => Eventually.WaitUntil(
        async () => (await Admin.ListMeshModelsAsync(new ListMeshModelsRequest())).Models.Count(m => m.Id == model) >= copies,
        $"{copies} cop{(copies == 1 ? "y" : "ies")} of {model} known through gossip",
        async () => string.Join(", ", (await Admin.ListMeshModelsAsync(new ListMeshModelsRequest())).Models.Select(m => $"{m.Id}@{m.Node}")),
        TimeSpan.FromSeconds(15));

    /// <summary>
    /// Waits until this node's router picks <paramref name="node"/> first for the request: known, alive (a
    /// suspect member ranks behind alive ones) and with its load heard, as a test that fails the first
    /// copy on purpose needs.
    /// </summary>
    public Task RanksFirstAsync(ChatRequest request, string node) => Eventually.WaitUntil(
        async () => (await Admin.ExplainAsync(new ExplainRequest { Request = request })).WinnerNode == node,
        $"{node} ranks first for {request.Model}",
        async () => (await Admin.ExplainAsync(new ExplainRequest { Request = request })).ToString(),
        TimeSpan.FromSeconds(15));

    /// <summary>A new mutual-TLS channel (its own HTTP/2 connection) to the node, presenting the named certificate (the client's by default).</summary>
    public GrpcChannel OpenChannel(string presenting = CertificateStore.ClientName)
    {
        var store = new CertificateStore(Mesh.CertificatesDirectory);
        var channel = MeshChannels.Create(Address, store.LoadCertificate(CertificateStore.CaName), store.LoadWithKey(presenting));
        _channels.Add(channel);
        return channel;
    }

    /// <summary>Starts the host's shutdown (as SIGTERM does) without waiting for it.</summary>
    public Task StopAsync() => _app.StopAsync();

    /// <summary>Stops at once, without a drain: open streams are cut (the closest an in-process host comes to kill -9).</summary>
    public async Task KillAsync()
    {
        using var now = new CancellationTokenSource();
        await now.CancelAsync();
        await _app.StopAsync(now.Token);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var channel in _channels)
        {
            channel.Dispose();
        }

        await _app.StopAsync();
        await _app.DisposeAsync();
        try
        {
            _directory?.Delete(recursive: true);
        }
        catch (IOException)
        {
            // A file still held open by a background reader: the OS temp cleaner gets it later.
        }
    }
}
