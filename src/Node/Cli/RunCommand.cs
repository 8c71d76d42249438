using LlmRouter.Common.Hosting;
using System.CommandLine;
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
        var owned = new Option<bool>(MeshProcessRun.ExitWithParent) { Description = "Drain and exit when standard input closes (up starts its nodes so)" };
        var level = ProcessLogging.LevelOption();
        var command = new Command("run", "Run one node of the mesh") { config, node, json, level, owned };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var mesh = NodeAddressOptions.LoadMesh(parse.GetValue(config)!);
            var nodeId = parse.GetValue(node)!;
            if (mesh.FindNode(nodeId) is null)
            {
                throw new CliException($"{mesh.SourcePath}: no node '{nodeId}' (nodes: {string.Join(", ", mesh.AllNodes.Select(n => n.Id))})");
            }

            return await MeshProcessRun.RunAsync(mesh, parse.GetValue(owned),
                lifetime => NodeHostBuilder.Build(new NodeLaunch(mesh, nodeId, parse.GetValue(json)) { Lifetime = lifetime, MinimumLogLevel = parse.GetValue(level) })).ConfigureAwait(false);
        });
        return command;
    }
}
