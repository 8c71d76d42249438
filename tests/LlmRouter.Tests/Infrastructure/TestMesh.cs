using System.Net;
using System.Net.Sockets;
using LlmRouter.Common.Configuration;
using LlmRouter.Common.Identity;

namespace LlmRouter.Tests.Infrastructure;

/// <summary>
/// Several real nodes of one pool on loopback (free ports chosen up front, so the mesh file names them),
/// with mutual TLS certificates from one CA and the fast "local" gossip preset.
/// </summary>
internal sealed class TestMesh : IAsyncDisposable
{
    private readonly DirectoryInfo _directory;

    private TestMesh(DirectoryInfo directory, MeshConfig mesh)
    {
        _directory = directory;
        Mesh = mesh;
    }

    public MeshConfig Mesh { get; }

    public List<TestNode> Nodes { get; } = [];

    public string Directory => _directory.FullName;

    public static async Task<TestMesh> StartAsync(int count, bool start = true)
    {
        var directory = System.IO.Directory.CreateTempSubdirectory("llmrouter-mesh-");
        var path = Path.Combine(directory.FullName, "mesh.yaml");
        await File.WriteAllTextAsync(path, Yaml(Enumerable.Range(1, count).Select(i => ($"n{i}", FreePort())).ToList()));
        var mesh = MeshConfigLoader.Load(path);
        new CertificateStore(mesh.CertificatesDirectory).EnsureForMesh(mesh, TimeProvider.System.GetUtcNow());
        var testMesh = new TestMesh(directory, mesh);
        if (start)
        {
            foreach (var node in mesh.AllNodes)
            {
                testMesh.Nodes.Add(await TestNode.StartAsync(mesh, node.Id));
            }
        }

        return testMesh;
    }

    /// <param name="nodes">Node ids and the loopback ports they listen on.</param>
    /// <param name="preset">Gossip preset: local (fast, for tests), lan or wan.</param>
    /// <param name="seed">Port of the one seed every node joins through; 0 means every node of the pool.</param>
    public static string Yaml(IReadOnlyList<(string Id, int Port)> nodes, string preset = "local", int seed = 0) => $"""
        mesh:
          name: test
          certificates: certs
        server:
          drain_timeout: 5s
          drain_notice: 0ms
        gossip:
          preset: {preset}
        pools:
          - name: pool-a
            seeds: [{(seed == 0 ? string.Join(", ", nodes.Select(n => $"https://127.0.0.1:{n.Port}")) : $"https://127.0.0.1:{seed}")}]
            nodes:
        {string.Join("\n", nodes.Select(n => $"""
              - id: {n.Id}
                listen: https://127.0.0.1:{n.Port}
                backends:
                  - id: sim-{n.Id}
                    kind: simulated
                    simulated:
                      time_to_first_token: 0ms
                      tokens_per_second: 0
                    models:
                      - id: model-{n.Id}
        """))}
        """;

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var node in Nodes)
        {
            await node.DisposeAsync();
        }

        try
        {
            _directory.Delete(recursive: true);
        }
        catch (IOException)
        {
            // Left for the OS temp cleaner.
        }
    }
}
