using System.CommandLine;
using System.Security.Cryptography.X509Certificates;
using Grpc.Net.Client;
using LlmRouter.Common.Configuration;
using LlmRouter.Common.Identity;

namespace LlmRouter.Node.Cli;

/// <summary>
/// How the client commands find a node: either <c>--config</c> and <c>--node</c> (address and certificates
/// come from the mesh file), or <c>--address</c> and <c>--ca</c> for a node described elsewhere.
/// </summary>
internal sealed class NodeAddressOptions
{
    public Option<string> Config { get; } = new("--config", "-c")
    {
        Description = "Mesh file that describes the node",
        DefaultValueFactory = _ => "mesh.sample.yaml",
    };

    public Option<string?> Node { get; } = new("--node", "-n")
    {
        Description = "Id of the node to call (default: the first node of the file)",
    };

    public Option<Uri?> Address { get; } = new("--address")
    {
        Description = "Node address, for example https://127.0.0.1:7101 (instead of --config/--node)",
    };

    public Option<string?> Authority { get; } = new("--ca")
    {
        Description = "PEM file of the mesh CA, needed with --address",
    };

    public Option<string?> ClientCertificate { get; } = new("--cert")
    {
        Description = "Name of a client certificate in the certificate directory, or a .crt path with its .key beside it",
    };

    public void AddTo(Command command)
    {
        command.Options.Add(Config);
        command.Options.Add(Node);
        command.Options.Add(Address);
        command.Options.Add(Authority);
        command.Options.Add(ClientCertificate);
    }

    /// <summary>Opens a channel to the chosen node. Throws <see cref="CliException"/> naming what is missing.</summary>
    public (GrpcChannel Channel, string Description) Connect(ParseResult parse)
    {
        var address = parse.GetValue(Address);
        X509Certificate2 authority;
        X509Certificate2? client = null;
        if (address is not null)
        {
            var caPath = parse.GetValue(Authority) ?? throw new CliException("--address needs --ca FILE (the mesh CA certificate)");
            authority = X509CertificateLoader.LoadCertificateFromFile(caPath);
            if (parse.GetValue(ClientCertificate) is { } certPath)
            {
                client = X509Certificate2.CreateFromPemFile(certPath, Path.ChangeExtension(certPath, ".key"));
            }
        }
        else
        {
            var mesh = LoadMesh(parse.GetValue(Config)!);
            var nodeId = parse.GetValue(Node) ?? mesh.AllNodes.First().Id;
            var node = mesh.FindNode(nodeId)
                ?? throw new CliException($"{mesh.SourcePath}: no node '{nodeId}' (nodes: {string.Join(", ", mesh.AllNodes.Select(n => n.Id))})");
            address = node.Listen;
            var store = new CertificateStore(mesh.CertificatesDirectory);
            if (!File.Exists(store.CertificatePath(CertificateStore.CaName)))
            {
                throw new CliException($"no mesh CA in {store.Directory}: start the node first (it creates development certificates) or run 'llm-router-node certs'");
            }

            authority = store.LoadCertificate(CertificateStore.CaName);
            // A certificate asked for by name must be there: calling without it would be served as someone else.
            var asked = parse.GetValue(ClientCertificate);
            if (asked is not null && !store.Has(asked) && !File.Exists(asked))
            {
                throw new CliException($"--cert: no client certificate '{asked}' in {store.Directory} (create it with 'llm-router-node certs client {asked}'), nor a file of that name");
            }

            var clientName = asked ?? CertificateStore.ClientName;
            client = store.Has(clientName) ? store.LoadWithKey(clientName)
                : asked is not null ? X509Certificate2.CreateFromPemFile(asked, Path.ChangeExtension(asked, ".key"))
                : null;
        }

        return (MeshChannels.Create(address, authority, client), address.ToString());
    }

    public static MeshConfig LoadMesh(string path)
    {
        try
        {
            return MeshConfigLoader.Load(path);
        }
        catch (ConfigException ex)
        {
            throw new CliException(ex.Message);
        }
    }
}

/// <summary>A command-line error: printed without a stack trace, exit code 2.</summary>
internal sealed class CliException(string message) : Exception(message);
