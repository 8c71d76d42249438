using LlmRouter.Common.Hosting;
using System.CommandLine;
using LlmRouter.Common.Identity;
using LlmRouter.Node.Hosting;

namespace LlmRouter.Node.Cli;

/// <summary><c>llm-router-node run --node a1</c>: runs one node of the mesh file until SIGTERM or Ctrl+C, then drains.</summary>
internal static class RunCommand
{
    public static Command Create()
    {
        var config = new Option<string>("--config", "-c") { Description = "Mesh file", DefaultValueFactory = _ => "mesh.sample.yaml" };
        var node = new Option<string>("--node", "-n") { Description = "Id of this node in the mesh file", Required = true };
        var json = new Option<bool>("--json-logs") { Description = "Write logs as JSON lines (Serilog compact format)" };
        var command = new Command("run", "Run one node of the mesh") { config, node, json };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var mesh = NodeAddressOptions.LoadMesh(parse.GetValue(config)!);
            var nodeId = parse.GetValue(node)!;
            if (mesh.FindNode(nodeId) is null)
            {
                throw new CliException($"{mesh.SourcePath}: no node '{nodeId}' (nodes: {string.Join(", ", mesh.AllNodes.Select(n => n.Id))})");
            }

            // First run on a new machine: development certificates for the whole file (never committed).
            var created = new CertificateStore(mesh.CertificatesDirectory).EnsureForMesh(mesh, TimeProvider.System.GetUtcNow());
            if (created.Count > 0)
            {
                await Console.Error.WriteLineAsync($"created development certificates in {mesh.CertificatesDirectory}: {string.Join(", ", created)}").ConfigureAwait(false);
            }

            using var lifetime = new SignalLifetime();
            await using var app = NodeHostBuilder.Build(new NodeLaunch(mesh, nodeId, parse.GetValue(json)) { Lifetime = lifetime });
            await app.StartAsync().ConfigureAwait(false);
            await lifetime.WaitForSignalAsync().ConfigureAwait(false);
            await app.StopAsync().ConfigureAwait(false);
            return 0;
        });
        return command;
    }
}
