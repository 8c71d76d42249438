using System.CommandLine;
using LlmRouter.Common.Identity;

namespace LlmRouter.Node.Cli;

/// <summary><c>llm-router-node certs</c>: creates the mesh CA and every missing node and client certificate.</summary>
internal static class CertsCommand
{
    public static Command Create()
    {
        // Recursive: "certs client NAME --config FILE" reads the same file as "certs --config FILE client NAME".
        var config = new Option<string>("--config", "-c") { Description = "Mesh file", DefaultValueFactory = _ => "mesh.sample.yaml", Recursive = true };
        var command = new Command("certs", "Create the mesh CA and the missing certificates of every node in the file") { config, ClientCommand(config) };
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

    /// <summary><c>certs client NAME</c>: a client certificate (spiffe://MESH/client/NAME) for a service or an operator.</summary>
    private static Command ClientCommand(Option<string> config)
    {
        var name = new Argument<string>("name") { Description = "The client's name: a tenant's clients list and access.operators name it" };
        var command = new Command("client", "Issue a client certificate signed by the mesh CA") { name };
        command.SetAction(parse =>
        {
            var mesh = NodeAddressOptions.LoadMesh(parse.GetValue(config)!);
            var client = parse.GetValue(name)!;
            if (!System.Text.RegularExpressions.Regex.IsMatch(client, "^[a-z0-9][a-z0-9._-]{0,62}$"))
            {
                Console.Error.WriteLine($"name: '{client}' is not a client name (lower-case letters, digits, '.', '_', '-'; at most 63)");
                return 2;
            }

            try
            {
                var (certificate, key) = new CertificateStore(mesh.CertificatesDirectory).IssueClient(mesh, client, TimeProvider.System.GetUtcNow());
                var tenant = mesh.Tenants.FirstOrDefault(t => t.Clients.Contains(client, StringComparer.Ordinal))?.Name;
                Console.WriteLine($"created {certificate} and {key} for spiffe://{mesh.Name}/client/{client}");
                Console.WriteLine(tenant is null
                    ? $"no tenant lists '{client}' yet: add it to a tenant's clients in {mesh.SourcePath} (and to access.operators for the Admin API)"
                    : $"it acts as tenant '{tenant}'");
                return 0;
            }
            catch (InvalidOperationException ex)
            {
                Console.Error.WriteLine(ex.Message);
                return 1;
            }
        });
        return command;
    }
}
