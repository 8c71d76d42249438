using System.CommandLine;
using LlmRouter.Common.Audit;
using LlmRouter.Common.Configuration;
using Grpc.Core;
using LlmRouter.Common.Identity;
using LlmRouter.V1;

namespace LlmRouter.Node.Cli;

/// <summary>
/// <c>llm-router-node audit</c>, over the route logs under the mesh file's <c>audit.directory</c>. It trusts the mesh
/// CA and nothing a process wrote.
/// <list type="bullet">
/// <item><c>verify --node NAME</c>: checks a log against its own signed checkpoints and the copies its peers kept,
/// and names the first entry that does not fit (exit 0 when it verifies, 1 when not).</item>
/// <item><c>show REQUEST_ID [--remote]</c>: the request's entry at every process it touched, each with an inclusion
/// proof against that process's latest signed checkpoint covering it; read from the local directory, or asked of every
/// process over the Admin API.</item>
/// <item><c>export --node NAME --format jsonl|syslog</c>: a log for a SIEM, as JSON lines or RFC 5424 syslog messages.</item>
/// </list>
/// </summary>
internal static class AuditCommand
{
    public static Command Create()
    {
        var config = new Option<string>("--config", "-c") { Description = "Mesh file", DefaultValueFactory = _ => "mesh.sample.yaml", Recursive = true };
        var command = new Command("audit", "Verify the route logs: every process's append-only Merkle tree log of what it did with each request") { config };
        command.Subcommands.Add(Verify(config));
        command.Subcommands.Add(Show(config));
        command.Subcommands.Add(Export(config));
        return command;
    }

    private static Command Show(Option<string> config)
    {
        var request = new Argument<string>("request-id") { Description = "The request id (x-request-id; the route frame's request_id)" };
        var remote = new Option<bool>("--remote")
        {
            Description = "Ask every node and integrator of the mesh file for its entries over the Admin API (logs on other machines), instead of reading audit.directory",
        };
        var certificate = new Option<string?>("--cert") { Description = "With --remote: an operator's client certificate in the certificate directory (default: client)" };
        var command = new Command("show", "One request's entries at every process it touched, each proven to be in the tree its process signed") { request, remote, certificate };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var mesh = NodeAddressOptions.LoadMesh(parse.GetValue(config)!);
            var store = new CertificateStore(mesh.CertificatesDirectory);
            using var authority = store.LoadCertificate(CertificateStore.CaName);
            var id = parse.GetValue(request)!;
            var found = parse.GetValue(remote)
                ? await RemoteEntriesAsync(mesh, store, authority, parse.GetValue(certificate), id, cancellationToken).ConfigureAwait(false)
                : LocalEntries(mesh, authority, id);

            // Hop by hop: the entry first, then each hop below it (its path one longer).
            foreach (var (node, proven) in found.OrderBy(f => f.Proven.Entry.Json.GetProperty("path").GetArrayLength()))
            {
                Console.WriteLine(Describe(node, proven.Entry));
                Console.WriteLine(proven.Checkpoint is not { } checkpoint
                    ? "  not covered by a signed checkpoint here (none yet, or the log's oldest segments were archived)"
                    : proven.Included
                        ? $"  included in the tree of {checkpoint.Size} entries {node} signed at {checkpoint.Time:O} (RFC 9162 inclusion proof)"
                        : $"  NOT proven in the tree of {checkpoint.Size} entries {node} signed at {checkpoint.Time:O}: run audit verify --node {node}");
            }

            if (found.Count == 0)
            {
                Console.Error.WriteLine($"no entry of request '{id}' in the route logs {(parse.GetValue(remote) ? "of the processes that answered" : $"under {mesh.Audit.Directory}")}");
                return 1;
            }

            return 0;
        });
        return command;
    }

    /// <summary>The request's entries in the route logs under the mesh file's audit.directory, against the checkpoints each process and its peers kept that the CA vouches for.</summary>
    private static List<(string Node, RouteLogExport.ProvenEntry Proven)> LocalEntries(MeshConfig mesh, System.Security.Cryptography.X509Certificates.X509Certificate2 authority, string id)
    {
        var found = new List<(string, RouteLogExport.ProvenEntry)>();
        foreach (var log in Directory.Exists(mesh.Audit.Directory) ? Directory.EnumerateDirectories(mesh.Audit.Directory).ToList() : [])
        {
            var node = Path.GetFileName(log);
            var trusted = RouteLogFiles.ReadCheckpoints(Path.Combine(log, RouteLogFiles.CheckpointsFile))
                .Concat(PeerCopies(mesh.Audit.Directory, node).Select(c => c.Item1))
                .Where(c => c.Node == node && c.Problem(authority, mesh.Name) is null).ToList();
            found.AddRange(RouteLogExport.Request(log, id, trusted).Select(proven => (node, proven)));
        }

        return found;
    }

    /// <summary>
    /// The request's entries as every node and integrator of the mesh file serves them over the Admin API. Each process
    /// is called at its address in the file and must present its own certificate (mutual TLS); a checkpoint counts only
    /// when the mesh CA vouches for its signer and it names that process, and the proof is checked here. A process that
    /// cannot be reached is named, and the others still answer.
    /// </summary>
    private static async Task<List<(string Node, RouteLogExport.ProvenEntry Proven)>> RemoteEntriesAsync(
        MeshConfig mesh, CertificateStore store, System.Security.Cryptography.X509Certificates.X509Certificate2 authority, string? certificate, string id, CancellationToken cancellationToken)
    {
        var name = certificate ?? CertificateStore.ClientName;
        if (!store.Has(name))
        {
            throw new CliException($"--cert: no client certificate '{name}' in {store.Directory} (create one with 'llm-router-node certs client {name}')");
        }

        using var client = store.LoadWithKey(name);
        var processes = mesh.AllNodes.Select(n => (n.Id, n.Listen)).Concat(mesh.Integrators.Select(i => (i.Id, i.Pools[0].Listen))).ToList();
        var answers = await Task.WhenAll(processes.Select(async process =>
        {
            using var channel = MeshChannels.Create(process.Listen, authority, client);
            try
            {
                var response = await new Admin.AdminClient(channel).RouteLogEntriesAsync(new RouteLogEntriesRequest { RequestId = id },
                    deadline: TimeProvider.System.GetUtcNow().UtcDateTime.AddSeconds(15), cancellationToken: cancellationToken).ConfigureAwait(false);
                return (process.Id, response, (string?)null);
            }
            catch (RpcException ex)
            {
                return (process.Id, (RouteLogEntriesResponse?)null, $"{ex.StatusCode}: {ex.Status.Detail}");
            }
        })).ConfigureAwait(false);

        var found = new List<(string, RouteLogExport.ProvenEntry)>();
        foreach (var (node, response, failure) in answers)
        {
            if (response is null)
            {
                Console.Error.WriteLine($"{node}: not asked ({failure})");
                continue;
            }

            foreach (var entry in response.Entries)
            {
                var line = entry.Line.ToByteArray();
                var checkpoint = entry.Checkpoint.IsEmpty ? null : Checkpoint.Parse(entry.Checkpoint.ToStringUtf8());
                if (checkpoint is not null && (checkpoint.Node != node || checkpoint.Problem(authority, mesh.Name) is not null))
                {
                    // Not a checkpoint the CA vouches for this process signing: nothing is proven by it.
                    checkpoint = null;
                    Console.Error.WriteLine($"{node}: entry {entry.Index} came with a checkpoint that is not {node}'s, signed under the mesh CA");
                }

                found.Add((node, new RouteLogExport.ProvenEntry(new RouteLogExport.StoredEntry((long)entry.Index, line, MerkleTree.LeafHash(line)), checkpoint,
                    [.. entry.Proof.Select(p => p.ToByteArray())])));
            }
        }

        return found;
    }

    /// <summary>One hop's entry on one line: where it went, who served it, how it ended, what was applied.</summary>
    private static string Describe(string node, RouteLogExport.StoredEntry entry)
    {
        var json = entry.Json;
        string Field(string name) => json.TryGetProperty(name, out var value) ? value.ValueKind == System.Text.Json.JsonValueKind.String ? value.GetString()! : value.GetRawText() : "";
        string List(string name) => json.TryGetProperty(name, out var value) && value.ValueKind == System.Text.Json.JsonValueKind.Array ? string.Join(", ", value.EnumerateArray().Select(v => v.GetString())) : "";
        return $"{node} entry {entry.Index} ({Field("hop")}) {Field("time")}: path {List("path").Replace(", ", " -> ", StringComparison.Ordinal)}, " +
            $"served by {Field("serving_node")}/{Field("backend")} {Field("served_model")}, {Field("outcome")} {Field("status")}, tokens {Field("input_tokens")}/{Field("output_tokens")}, " +
            $"first token {Field("first_token_ms")} ms, total {Field("total_ms")} ms, tenant {Field("tenant")}, policies [{List("policies")}], masked {Field("masked")}";
    }

    private static Command Export(Option<string> config)
    {
        var node = new Option<string>("--node", "-n") { Description = "The node or integrator whose log to export", Required = true };
        var format = new Option<string>("--format", "-f") { Description = "jsonl (each entry with its leaf hash) or syslog (RFC 5424)", DefaultValueFactory = _ => "jsonl" };
        format.AcceptOnlyFromAmong("jsonl", "syslog");
        var from = new Option<long>("--from") { Description = "The first entry to export (its index)", DefaultValueFactory = _ => 0 };
        var command = new Command("export", "A route log for a SIEM, on standard output: JSON lines or RFC 5424 syslog messages") { node, format, from };
        command.SetAction(parse =>
        {
            var mesh = MeshConfigLoader.Load(parse.GetValue(config)!);
            var log = Path.Combine(mesh.Audit.Directory, parse.GetValue(node)!);
            if (RouteLogFiles.Segments(log).Count == 0)
            {
                throw new CliException($"--node: no route log in {log}");
            }

            var syslog = parse.GetValue(format) == "syslog";
            foreach (var entry in RouteLogExport.Entries(log).Where(e => e.Index >= parse.GetValue(from)))
            {
                Console.WriteLine(syslog ? RouteLogExport.Syslog(entry) : RouteLogExport.JsonLine(entry));
            }

            return 0;
        });
        return command;
    }

    private static Command Verify(Option<string> config)
    {
        var node = new Option<string[]>("--node", "-n") { Description = "The node or integrator whose log to check (repeatable; default: every process of the mesh file)", AllowMultipleArgumentsPerToken = true };
        var directory = new Option<string?>("--log") { Description = "The log's directory, when not where the mesh file's audit.directory puts it (DIRECTORY/NODE)" };
        var archived = new Option<bool>("--archived") { Description = "The oldest segments were archived on purpose: check from the first segment here" };
        var command = new Command("verify", "Check route logs against their signed checkpoints and their peers' copies; name the first entry that does not fit") { node, directory, archived };
        command.SetAction(parse =>
        {
            var mesh = MeshConfigLoader.Load(parse.GetValue(config)!);
            var store = new CertificateStore(mesh.CertificatesDirectory);
            using var authority = store.LoadCertificate(CertificateStore.CaName);
            var names = parse.GetValue(node) is { Length: > 0 } asked ? asked : [.. mesh.AllNodes.Select(n => n.Id), .. mesh.Integrators.Select(i => i.Id)];
            var failed = 0;
            foreach (var name in names)
            {
                var log = parse.GetValue(directory) is { } given && names.Length == 1 ? given : Path.Combine(mesh.Audit.Directory, name);
                var report = RouteLogVerifier.Verify(log, name, authority, mesh.Name, PeerCopies(mesh.Audit.Directory, name), parse.GetValue(archived));
                Console.WriteLine(report.Verified
                    ? $"{name}: verified, {report.Entries} entries in {report.Segments} segment(s), {report.CheckpointsMatched} signed checkpoint(s) matched ({log})"
                    : $"{name}: DOES NOT VERIFY ({log})");
                foreach (var problem in report.Problems)
                {
                    Console.WriteLine($"  problem: {problem}");
                }

                foreach (var note in report.Notes)
                {
                    Console.WriteLine($"  note: {note}");
                }

                failed += report.Verified ? 0 : 1;
            }

            return failed == 0 ? 0 : 1;
        });
        return command;
    }

    /// <summary>The checkpoints of <paramref name="node"/> that every other process kept (DIRECTORY/PEER/peers/NODE.jsonl).</summary>
    private static IEnumerable<(Checkpoint, string)> PeerCopies(string directory, string node) =>
        !Directory.Exists(directory) ? [] : Directory.EnumerateDirectories(directory)
            .Where(peer => Path.GetFileName(peer) != node)
            .SelectMany(peer => RouteLogFiles.ReadCheckpoints(Path.Combine(peer, RouteLogFiles.PeersDirectory, node + ".jsonl"))
                .Select(c => (c, $"kept by {Path.GetFileName(peer)}")));
}
