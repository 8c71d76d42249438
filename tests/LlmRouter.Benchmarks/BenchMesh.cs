using System.Net;
using Grpc.Net.Client;
using LlmRouter.Common.Configuration;
using LlmRouter.Common.Identity;
using LlmRouter.Integrator.Hosting;
using LlmRouter.Node.Hosting;

namespace LlmRouter.Benchmarks;

/// <summary>What every benchmark's mesh shares: its file, certificates, free ports, client channels and percentiles.</summary>
internal static class BenchMesh
{
    /// <summary>Writes mesh.yaml (the common header, then <paramref name="pools"/>) in the directory, loads it and creates its certificates.</summary>
    /// <param name="pools">The file from its <c>pools:</c> key on.</param>
    /// <param name="tenants">The tenants section (default: one tenant, everyone, with no limits).</param>
    public static async Task<(string Path, MeshConfig Mesh, CertificateStore Store)> CreateAsync(DirectoryInfo directory, string pools, string preset = "local", string? tenants = null)
    {
        var path = Path.Combine(directory.FullName, "mesh.yaml");
        tenants ??= """
            tenants:
              - name: everyone
                clients: [client]
            """;
        await File.WriteAllTextAsync(path, $"""
            mesh:
              name: bench
              certificates: certs
            access:
              anonymous: everyone
              operators: [client]
            {tenants}
            gossip:
              preset: {preset}
            server:
              drain_timeout: 1s
              drain_notice: 0ms

            """ + pools);
        var mesh = MeshConfigLoader.Load(path);
        var store = new CertificateStore(mesh.CertificatesDirectory);
        store.EnsureForMesh(mesh, TimeProvider.System.GetUtcNow());
        return (path, mesh, store);
    }

    /// <summary>A channel to a mesh listener on loopback, presenting the mesh's client certificate.</summary>
    /// <summary>Starts the named nodes and integrators of the mesh file as hosts in this process (logging warnings only); disposing stops them all.</summary>
    public static async Task<InProcessHosts> StartHostsAsync(MeshConfig mesh, IEnumerable<string> nodes, IEnumerable<string> integrators)
    {
        var hosts = new InProcessHosts();
        foreach (var id in nodes)
        {
            var node = NodeHostBuilder.Build(new NodeLaunch(mesh, id, JsonLogs: false) { MinimumLogLevel = Serilog.Events.LogEventLevel.Warning });
            await node.StartAsync();
            hosts.Add(node);
        }

        foreach (var id in integrators)
        {
            var integrator = IntegratorHostBuilder.Build(new IntegratorLaunch(mesh, id, JsonLogs: false) { MinimumLogLevel = Serilog.Events.LogEventLevel.Warning });
            await integrator.StartAsync();
            hosts.Add(integrator);
        }

        return hosts;
    }

    /// <summary>Hosts started in this process, stopped and disposed together.</summary>
    public sealed class InProcessHosts : List<WebApplication>, IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            foreach (var host in this)
            {
                await host.StopAsync();
                await host.DisposeAsync();
            }
        }
    }

    public static GrpcChannel ClientChannel(CertificateStore store, int port) =>
        MeshChannels.Create(new Uri($"https://127.0.0.1:{port}"), store.LoadCertificate(CertificateStore.CaName), store.LoadWithKey(CertificateStore.ClientName));

    /// <summary>A loopback port free right now (the mesh file must name ports before the hosts start).</summary>
    public static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public static double Percentile(List<double> sorted, double p) => sorted.Count == 0 ? 0 : sorted[(int)Math.Min(sorted.Count - 1, Math.Floor(p * sorted.Count))];
}
