using System.CommandLine;
using LlmRouter.Common.Identity;

namespace LlmRouter.Node.Cli;

/// <summary><c>llm-router-node certs</c>: creates the mesh CA and every missing node and client certificate.</summary>
internal static class CertsCommand
{
    public static Command Create()
    {
        var config = new Option<string>("--config", "-c") { Description = "Mesh file", DefaultValueFactory = _ => "mesh.sample.yaml" };
        var command = new Command("certs", "Create the mesh CA and the missing certificates of every node in the file") { config };
        command.SetAction(parse =>
        {
            var mesh = NodeAddressOptions.LoadMesh(parse.GetValue(config)!);
            var store = new CertificateStore(mesh.CertificatesDirectory);
            var created = store.EnsureForMesh(mesh, TimeProvider.System.GetUtcNow());
            Console.WriteLine(created.Count == 0
                ? $"{store.Directory}: every certificate exists already"
                : $"{store.Directory}: created {string.Join(", ", created)}");
            return 0;
        });
        return command;
    }
}
