using System.CommandLine;
using LlmRouter.Common.Configuration;
using LlmRouter.Common.Hosting;
using LlmRouter.Common.Identity;

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
        var run = new Command("run", "Run one integrator of the mesh") { config, id, json };
        run.SetAction(async (parse, cancellationToken) =>
        {
            var mesh = MeshConfigLoader.Load(parse.GetValue(config)!);
            var launch = new IntegratorLaunch(mesh, parse.GetValue(id)!, parse.GetValue(json));
            _ = launch.Config;

            // First run on a new machine: development certificates for the whole file (never committed).
            var created = new CertificateStore(mesh.CertificatesDirectory).EnsureForMesh(mesh, TimeProvider.System.GetUtcNow());
            if (created.Count > 0)
            {
                await Console.Error.WriteLineAsync($"created development certificates in {mesh.CertificatesDirectory}: {string.Join(", ", created)}").ConfigureAwait(false);
            }

            using var lifetime = new SignalLifetime();
            await using var app = IntegratorHostBuilder.Build(launch with { Lifetime = lifetime });
            await app.StartAsync(CancellationToken.None).ConfigureAwait(false);
            await lifetime.WaitForSignalAsync().ConfigureAwait(false);
            await app.StopAsync(CancellationToken.None).ConfigureAwait(false);
            return 0;
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
