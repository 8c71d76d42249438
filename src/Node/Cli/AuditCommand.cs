using System.CommandLine;
using LlmRouter.Common.Audit;
using LlmRouter.Common.Configuration;
using LlmRouter.Common.Identity;

namespace LlmRouter.Node.Cli;

/// <summary>
/// <c>llm-router-node audit verify --node NAME</c>: checks a process's route log on disk against its own signed
/// checkpoints and against the copies its peers kept, and names the first entry that does not fit. It trusts the
/// mesh CA and nothing the process wrote. Exit 0 when the log verifies, 1 when it does not.
/// </summary>
internal static class AuditCommand
{
    public static Command Create()
    {
        var config = new Option<string>("--config", "-c") { Description = "Mesh file", DefaultValueFactory = _ => "mesh.sample.yaml", Recursive = true };
        var command = new Command("audit", "Verify the route logs: every process's append-only Merkle tree log of what it did with each request") { config };
        command.Subcommands.Add(Verify(config));
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
