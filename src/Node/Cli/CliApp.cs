using System.CommandLine;
using Grpc.Core;
using LlmRouter.Common.Configuration;

namespace LlmRouter.Node.Cli;

/// <summary>The command line: one binary runs a node, starts the sample mesh, and talks to any node.</summary>
internal static class CliApp
{
    public static async Task<int> RunAsync(string[] args)
    {
        var root = new RootCommand("llm-router-node: a gRPC mesh router for LLM requests")
        {
            RunCommand.Create(),
            UpCommand.Create(),
            ChatCommand.Create(),
            ModelsCommand.Create(),
            HealthCommand.Create(),
            CertsCommand.Create(),
            KeysCommand.Create(),
            AuditCommand.Create(),
        };
        foreach (var admin in AdminCommands.Create())
        {
            root.Subcommands.Add(admin);
        }


        // The node handles SIGTERM itself (drain); the parser must not kill the process after 2 seconds.
        var invocation = new InvocationConfiguration { ProcessTerminationTimeout = null, EnableDefaultExceptionHandler = false };
        try
        {
            return await root.Parse(args).InvokeAsync(invocation).ConfigureAwait(false);
        }
        catch (CliException ex)
        {
            await Console.Error.WriteLineAsync($"error: {ex.Message}").ConfigureAwait(false);
            return 2;
        }
        catch (ConfigException ex)
        {
            await Console.Error.WriteLineAsync($"error: {ex.Message}").ConfigureAwait(false);
            return 2;
        }
        catch (RpcException ex)
        {
            await Console.Error.WriteLineAsync($"error: {ex.StatusCode}: {ex.Status.Detail}").ConfigureAwait(false);
            return 1;
        }
        catch (InvalidOperationException ex)
        {
            await Console.Error.WriteLineAsync($"error: {ex.Message}").ConfigureAwait(false);
            return 2;
        }
    }
}
