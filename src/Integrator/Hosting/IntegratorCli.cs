using System.CommandLine;
using LlmRouter.Common.Configuration;
using LlmRouter.Common.Hosting;

namespace LlmRouter.Integrator.Hosting;

/// <summary>
/// <c>llm-router-integrator run --integrator i1</c>: runs one integrator of the mesh file until SIGTERM or
/// Ctrl+C, then leaves its pools and lets open streams finish.
/// </summary>
internal static class IntegratorCli
{
    public static async Task<int> RunAsync(string[] args)
    {
        var config = new Option<string>("--config", "-c") { Description = "Mesh file", DefaultValueFactory = _ => "mesh.sample.yaml" };
        var id = new Option<string>("--integrator", "-i") { Description = "Id of this integrator in the mesh file", Required = true };
        var json = new Option<bool>("--json-logs") { Description = "Write logs as JSON lines (Serilog compact format)" };
        var owned = new Option<bool>(MeshProcessRun.ExitWithParent) { Description = "Drain and exit when standard input closes (up starts its integrators so)" };
        var level = ProcessLogging.LevelOption();
        var run = new Command("run", "Run one integrator of the mesh") { config, id, json, level, owned };
        run.SetAction(async (parse, cancellationToken) =>
        {
            var mesh = MeshConfigLoader.Load(parse.GetValue(config)!);
            var launch = new IntegratorLaunch(mesh, parse.GetValue(id)!, parse.GetValue(json)) { MinimumLogLevel = parse.GetValue(level) };
            _ = launch.Config;
            return await MeshProcessRun.RunAsync(mesh, parse.GetValue(owned), lifetime => IntegratorHostBuilder.Build(launch with { Lifetime = lifetime })).ConfigureAwait(false);
        });

        var root = new RootCommand("llm-router-integrator: joins two or more pools and carries requests between them") { run };
        var invocation = new InvocationConfiguration { ProcessTerminationTimeout = null, EnableDefaultExceptionHandler = false };
        try
        {
            return await root.Parse(args).InvokeAsync(invocation).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is ConfigException or InvalidOperationException)
        {
            await Console.Error.WriteLineAsync($"error: {ex.Message}").ConfigureAwait(false);
            return 2;
        }
    }
}
