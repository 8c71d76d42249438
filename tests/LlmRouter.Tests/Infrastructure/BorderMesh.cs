using LlmRouter.Common.Configuration;
using LlmRouter.Common.Identity;
using LlmRouter.Common.Membership;
using LlmRouter.Integrator.Hosting;
using LlmRouter.V1;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace LlmRouter.Tests.Infrastructure;

/// <summary>
/// Several pools on loopback joined by integrators, every node and integrator a real in-process host with
/// mutual TLS on a port chosen up front, and the fast "local" gossip preset.
/// </summary>
internal sealed class BorderMesh : IAsyncDisposable
{
    private readonly DirectoryInfo _directory;
    private readonly Dictionary<string, WebApplication> _integrators = new(StringComparer.Ordinal);

    private BorderMesh(DirectoryInfo directory, MeshConfig mesh)
    {
        _directory = directory;
        Mesh = mesh;
    }

    public MeshConfig Mesh { get; }

    public Dictionary<string, TestNode> Nodes { get; } = new(StringComparer.Ordinal);

    /// <param name="pools">Each pool's name and nodes: id and one model it serves (a simulated backend each).</param>
    /// <param name="integrators">Each integrator's id, the pools it joins, and its export list (empty: everything).</param>
    /// <param name="simulated">Every node's simulated: settings, one "key: value" per line.</param>
    /// <param name="simulatedFor">A node's own simulated: settings, where they differ from <paramref name="simulated"/>.</param>
    /// <param name="backendFor">A node's backends: entries of its own, in place of the simulated one (null: the simulated one).</param>
    /// <param name="sections">Top-level sections of the mesh file added as they are (protection:, telemetry:).</param>
    public static async Task<BorderMesh> StartAsync(
        IReadOnlyList<(string Pool, IReadOnlyList<(string Node, string Model)> Nodes)> pools,
        IReadOnlyList<(string Id, IReadOnlyList<string> Pools, IReadOnlyList<string> Export)> integrators,
        string simulated = "time_to_first_token: 0ms\ntokens_per_second: 0",
        Func<string, string?>? simulatedFor = null,
        Func<string, double>? qualityFor = null,
        Func<string, string?>? backendFor = null,
        string sections = "")
    {
        for (var attempt = 1; ; attempt++)
        {
            var directory = Directory.CreateTempSubdirectory("llmrouter-border-");
            var path = Path.Combine(directory.FullName, "mesh.yaml");
            await File.WriteAllTextAsync(path, sections + Yaml(pools, integrators, simulated, simulatedFor, qualityFor: qualityFor, backendFor: backendFor));
            var mesh = MeshConfigLoader.Load(path);
            new CertificateStore(mesh.CertificatesDirectory).EnsureForMesh(mesh, TimeProvider.System.GetUtcNow());
            var border = new BorderMesh(directory, mesh);
            try
            {
                foreach (var node in mesh.AllNodes)
                {
                    border.Nodes[node.Id] = await TestNode.StartAsync(mesh, node.Id);
                }

                foreach (var integrator in mesh.Integrators)
                {
                    await border.StartIntegratorAsync(integrator.Id);
                }

                return border;
            }
            catch (IOException ex) when (ex.InnerException is Microsoft.AspNetCore.Connections.AddressInUseException && attempt < 3)
            {
                // A port found free was taken by another test before a process bound it: the mesh starts again on new ports.
                await border.DisposeAsync();
            }
        }
    }

    public async Task StartIntegratorAsync(string id)
    {
        var app = IntegratorHostBuilder.Build(new IntegratorLaunch(Mesh, id, JsonLogs: false));
        await app.StartAsync();
        _integrators[id] = app;
    }

    /// <summary>An integrator's seat in one pool: its listener address, certificate and membership there.</summary>
    public PoolSeat Seat(string integrator, string pool) =>
        _integrators[integrator].Services.GetRequiredService<IntegratorRouterHost>().Seats.Single(seat => seat.Name == pool);

    /// <summary>Starts an integrator's graceful stop (drain) without waiting for it.</summary>
    public Task StopIntegratorAsync(string id) => _integrators[id].StopAsync();

    /// <summary>A channel to an integrator's listener in one pool, presenting the named certificate (a member's, or "client").</summary>
    public Grpc.Net.Client.GrpcChannel ChannelTo(string integrator, string pool, string presenting)
    {
        var store = new CertificateStore(Mesh.CertificatesDirectory);
        return MeshChannels.Create(Mesh.FindIntegrator(integrator)!.Pools.Single(p => p.Pool == pool).Listen,
            store.LoadCertificate(CertificateStore.CaName), store.LoadWithKey(presenting));
    }

    /// <summary>Stops an integrator at once, without leaving its pools (the closest in-process to kill -9).</summary>
    public async Task KillIntegratorAsync(string id)
    {
        using var now = new CancellationTokenSource();
        await now.CancelAsync();
        var app = _integrators[id];
        _integrators.Remove(id);
        await app.StopAsync(now.Token);
        await app.DisposeAsync();
    }

    /// <summary>Waits until a node has a route to the model from each of the named integrators.</summary>
    public Task RouteKnownAsync(string node, string model, params string[] through) => Eventually.WaitUntil(
        async () =>
        {
            var routes = (await Nodes[node].Admin.ListMeshModelsAsync(new ListMeshModelsRequest())).Routes;
            return through.All(integrator => routes.Any(r => r.Integrator == integrator && r.Route.Model.Id == model));
        },
        $"{node} has a route to {model} through {string.Join(", ", through)}",
        async () => string.Join(", ", (await Nodes[node].Admin.ListMeshModelsAsync(new ListMeshModelsRequest())).Routes
            .Select(r => $"{r.Route.Model.Id} via {r.Integrator} ({string.Join(">", r.Route.Pools)})")),
        TimeSpan.FromSeconds(20));

    /// <summary>A client certificate that presents the given member (node or integrator-in-pool) identity.</summary>
    public System.Security.Cryptography.X509Certificates.X509Certificate2 MemberCertificate(string name) =>
        new CertificateStore(Mesh.CertificatesDirectory).LoadWithKey(name);

    public async ValueTask DisposeAsync()
    {
        foreach (var app in _integrators.Values)
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }

        foreach (var node in Nodes.Values)
        {
            await node.DisposeAsync();
        }

        try
        {
            _directory.Delete(recursive: true);
        }
        catch (IOException)
        {
            // A file still held open by a background reader: the OS temp cleaner gets it later.
        }
    }

    /// <param name="maxConcurrency">Every backend's max_concurrency (a route's free capacity is the sum over its copies).</param>
    /// <param name="metrics">Gives every node and integrator a Prometheus endpoint (metrics_listen) on a port of its own.</param>
    /// <param name="price">Every model's price in dollars per million tokens, input and output alike.</param>
    /// <param name="access">The access and tenants sections (default: <see cref="MeshYaml.OpenAccess"/>).</param>
    /// <param name="backendFor">A node's backends: entries of its own, in place of the simulated one (null: the simulated one).</param>
    public static string Yaml(
        IReadOnlyList<(string Pool, IReadOnlyList<(string Node, string Model)> Nodes)> pools,
        IReadOnlyList<(string Id, IReadOnlyList<string> Pools, IReadOnlyList<string> Export)> integrators,
        string simulated,
        Func<string, string?>? simulatedFor = null,
        int maxConcurrency = 8,
        Func<string, double>? qualityFor = null,
        bool metrics = false,
        double price = 0,
        string? access = null,
        Func<string, string?>? backendFor = null)
    {
        string MetricsListen(string indent) => metrics ? $"{indent}metrics_listen: http://127.0.0.1:{TestMesh.FreePort()}\n" : "";
        var text = new System.Text.StringBuilder(access ?? MeshYaml.OpenAccess).Append("""
            mesh:
              name: test
              certificates: certs
            server:
              drain_timeout: 5s
              drain_notice: 0ms
            gossip:
              preset: local
            pools:

            """);
        foreach (var (pool, nodes) in pools)
        {
            text.AppendLine($"  - name: {pool}").AppendLine("    nodes:");
            foreach (var (node, model) in nodes)
            {
                text.AppendLine($"      - id: {node}")
                    .AppendLine($"        listen: https://127.0.0.1:{TestMesh.FreePort()}")
                    .AppendLine($"        http_listen: http://127.0.0.1:{TestMesh.FreePort()}")
                    .Append(MetricsListen("        "))
                    .AppendLine("        backends:")
                    .AppendLine(backendFor?.Invoke(node) ?? TestMesh.Backend($"sim-{node}", model, quality: qualityFor?.Invoke(node) ?? 0.5, simulated: simulatedFor?.Invoke(node) ?? simulated, maxConcurrency: maxConcurrency, features: "[tools, json, vision]", price: price));
            }
        }

        text.AppendLine("integrators:");
        foreach (var (id, joined, export) in integrators)
        {
            text.AppendLine($"  - id: {id}").Append(MetricsListen("    ")).AppendLine("    pools:");
            foreach (var pool in joined)
            {
                text.AppendLine($"      - {{ pool: {pool}, listen: https://127.0.0.1:{TestMesh.FreePort()} }}");
            }

            if (export.Count > 0)
            {
                text.AppendLine($"    export: [{string.Join(", ", export)}]");
            }
        }

        return text.ToString();
    }
}
