using LlmRouter.Common.Configuration;
using LlmRouter.Common.Identity;

namespace LlmRouter.Tests.Infrastructure;

/// <summary>
/// The real processes of one test and the temporary directory their mesh file and certificates live in:
/// when the test ends every process still running is killed and the directory removed.
/// </summary>
internal sealed class ProcessGroup(string prefix) : IDisposable
{
    public DirectoryInfo Directory { get; } = System.IO.Directory.CreateTempSubdirectory(prefix);

    /// <summary>The processes by id (node or integrator).</summary>
    public Dictionary<string, NodeProcessRunner> Processes { get; } = [];

    /// <summary>Writes the mesh file into the directory, creates its certificates, and starts every node and integrator in it as a process.</summary>
    public async Task<(MeshConfig Mesh, CertificateStore Store)> StartMeshAsync(string yaml)
    {
        var path = Path.Combine(Directory.FullName, "mesh.yaml");
        await File.WriteAllTextAsync(path, yaml);
        var mesh = MeshConfigLoader.Load(path);
        var store = new CertificateStore(mesh.CertificatesDirectory);
        store.EnsureForMesh(mesh, TimeProvider.System.GetUtcNow());
        foreach (var node in mesh.AllNodes)
        {
            Processes[node.Id] = NodeProcessRunner.Start("run", "--config", path, "--node", node.Id);
        }

        foreach (var integrator in mesh.Integrators)
        {
            Processes[integrator.Id] = NodeProcessRunner.StartIntegrator("run", "--config", path, "--integrator", integrator.Id);
        }

        return (mesh, store);
    }

    /// <summary>A channel to a node or integrator listener, presenting the mesh's client certificate.</summary>
    public static Grpc.Net.Client.GrpcChannel Channel(CertificateStore store, Uri listen) =>
        MeshChannels.Create(listen, store.LoadCertificate(CertificateStore.CaName), store.LoadWithKey(CertificateStore.ClientName));

    /// <summary>A heading and every process's output so far, for a failure message.</summary>
    public string Outputs(string heading) =>
        heading + "; process output:\n" + string.Join("\n", Processes.Select(p => $"--- {p.Key} ---\n{p.Value.Output}"));

    public void Dispose()
    {
        foreach (var process in Processes.Values)
        {
            process.Dispose();
        }

        Directory.Delete(recursive: true);
    }
}
