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

    /// <param name="backends">A node's backends: list entries under backends:, indented 10 spaces; default one simulated model-ID.</param>
    public static async Task<TestMesh> StartAsync(int count, bool start = true, Func<string, string>? backends = null)
    {
        for (var attempt = 1; ; attempt++)
        {
            var directory = System.IO.Directory.CreateTempSubdirectory("llmrouter-mesh-");
            var path = Path.Combine(directory.FullName, "mesh.yaml");
            await File.WriteAllTextAsync(path, Yaml(Enumerable.Range(1, count).Select(i => ($"n{i}", FreePort())).ToList(), backends: backends));
            var mesh = MeshConfigLoader.Load(path);
            new CertificateStore(mesh.CertificatesDirectory).EnsureForMesh(mesh, TimeProvider.System.GetUtcNow());
            var testMesh = new TestMesh(directory, mesh);
            try
            {
                if (start)
                {
                    foreach (var node in mesh.AllNodes)
                    {
                        testMesh.Nodes.Add(await TestNode.StartAsync(mesh, node.Id));
                    }
                }

                return testMesh;
            }
            catch (IOException ex) when (ex.InnerException is Microsoft.AspNetCore.Connections.AddressInUseException && attempt < 3)
            {
                // A port found free was taken by another process before the node bound it (it failed a stressed CI
                // run): the mesh starts again on new ports.
                await testMesh.DisposeAsync();
            }
        }
    }

    /// <param name="nodes">Node ids and the loopback ports they listen on.</param>
    /// <param name="preset">Gossip preset: local (fast, for tests), lan or wan.</param>
    /// <param name="seed">Port of the one seed every node joins through; 0 means every node of the pool.</param>
    /// <param name="backends">A node's backends (see <see cref="StartAsync"/>); default one simulated model-ID.</param>
    /// <param name="suspicionMultiplier">Overrides the preset's suspicion multiplier; 0 keeps the preset's.</param>
    public static string Yaml(
        IReadOnlyList<(string Id, int Port)> nodes, string preset = "local", int seed = 0, Func<string, string>? backends = null, int suspicionMultiplier = 0) => $"""
        mesh:
          name: test
          certificates: certs
        {MeshYaml.OpenAccess}
        server:
          drain_timeout: 5s
          drain_notice: 0ms
        gossip:
          preset: {preset}{(suspicionMultiplier > 0 ? $"\n  suspicion_multiplier: {suspicionMultiplier}" : "")}
        pools:
          - name: pool-a
            seeds: [{(seed == 0 ? string.Join(", ", nodes.Select(n => $"https://127.0.0.1:{n.Port}")) : $"https://127.0.0.1:{seed}")}]
            nodes:
        {string.Join("\n", nodes.Select(n => $"""
              - id: {n.Id}
                listen: https://127.0.0.1:{n.Port}
                backends:
        {(backends ?? DefaultBackend)(n.Id)}
        """))}
        """;

    /// <summary>One unpaced simulated backend sim-ID serving model-ID.</summary>
    public static string DefaultBackend(string node) => Backend($"sim-{node}", $"model-{node}");

    /// <summary>A simulated backend entry for <see cref="StartAsync"/>'s backends.</summary>
    /// <param name="simulated">simulated: settings, one "key: value" per line.</param>
    public static string Backend(
        string id, string model, double quality = 0.5, string simulated = "time_to_first_token: 0ms\ntokens_per_second: 0", string aliases = "[]", double price = 0,
        int maxConcurrency = 8, int maxQueue = 32, string features = "[]")
    {
        var settings = string.Join("\n", simulated.Split('\n').Select(line => new string(' ', 14) + line));
        var number = (double value) => value.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return $$"""
                      - id: {{id}}
                        kind: simulated
                        max_concurrency: {{maxConcurrency}}
                        max_queue: {{maxQueue}}
                        simulated:
            {{settings}}
                        models:
                          - id: {{model}}
                            aliases: {{aliases}}
                            quality: {{number(quality)}}
                            features: {{features}}
                            price: { input_per_million: {{number(price)}}, output_per_million: {{number(price)}} }
            """;
    }

    // Ports handed out in this test process: the OS may offer a port again once its probe listener closes, and
    // two hosts of one mesh file (or of two tests running side by side) must never be given the same one.
    private static readonly HashSet<int> HandedOut = [];

    /// <summary>A loopback port no one listens on now and that no other caller in this process was given.</summary>
    public static int FreePort()
    {
        while (true)
        {
            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            var port = ((IPEndPoint)listener.LocalEndpoint).Port;
            lock (HandedOut)
            {
                if (HandedOut.Add(port))
                {
                    return port;
                }
            }
        }
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
