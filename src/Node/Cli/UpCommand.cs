using System.CommandLine;
using System.Diagnostics;
using Grpc.Health.V1;
using LlmRouter.Common.Configuration;
using LlmRouter.Common.Hosting;
using LlmRouter.Common.Identity;
using LlmRouter.V1;

namespace LlmRouter.Node.Cli;

/// <summary>
/// <c>llm-router-node up</c>: the newcomer's main job. Starts every node and integrator of the mesh file as
/// its own process, waits until each one reports SERVING, streams one routed answer from the entry node,
/// then drains them (or keeps them running with --keep-running). It owns what it started: SIGTERM, SIGINT or
/// SIGQUIT to it drains and stops every child before it exits, and its children hold a pipe from it on
/// their standard input, so that even if it is killed outright they drain and exit on their own.
/// </summary>
internal static class UpCommand
{
    private static readonly TimeSpan StartupBound = TimeSpan.FromSeconds(60);

    public static Command Create()
    {
        var config = new Option<string>("--config", "-c") { Description = "Mesh file", DefaultValueFactory = _ => "mesh.sample.yaml" };
        var entry = new Option<string?>("--entry") { Description = "Node that receives the question (default: the first node)" };
        var model = new Option<string?>("--model", "-m") { Description = "Model id, alias or auto (default: a model only another subnet has, when integrators join them; else auto)" };
        var prompt = new Option<string>("--ask") { Description = "The question", DefaultValueFactory = _ => "What does an LLM router mesh do?" };
        var keep = new Option<bool>("--keep-running") { Description = "Leave the nodes running until Ctrl+C" };
        var command = new Command("up", "Start every node of the mesh file and stream one routed answer") { config, entry, model, prompt, keep };
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var signals = new SignalLifetime();
            using var stopping = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            _ = signals.WaitForSignalAsync().ContinueWith(_ => stopping.Cancel(), CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
            cancellationToken = stopping.Token;
            var mesh = NodeAddressOptions.LoadMesh(parse.GetValue(config)!);
            var store = new CertificateStore(mesh.CertificatesDirectory);
            var created = store.EnsureForMesh(mesh, TimeProvider.System.GetUtcNow());
            if (created.Count > 0)
            {
                Console.Error.WriteLine($"created development certificates in {store.Directory}: {string.Join(", ", created)}");
            }

            var logDirectory = Directory.CreateTempSubdirectory("llmrouter-up-").FullName;
            var processes = new List<MeshProcess>();
            try
            {
                foreach (var node in mesh.AllNodes)
                {
                    processes.Add(MeshProcess.StartNode(mesh, node, logDirectory));
                    Console.Error.WriteLine($"started node {node.Id} (pool {node.Pool}) on {node.Listen}, pid {processes[^1].Process.Id}, log {processes[^1].LogPath}");
                }

                foreach (var integrator in mesh.Integrators)
                {
                    processes.Add(MeshProcess.StartIntegrator(mesh, integrator, logDirectory));
                    Console.Error.WriteLine($"started integrator {integrator.Id} on {string.Join(", ", integrator.Pools.Select(p => $"{p.Pool} {p.Listen}"))}, pid {processes[^1].Process.Id}, log {processes[^1].LogPath}");
                }

                using var authority = store.LoadCertificate(CertificateStore.CaName);
                using var client = store.LoadWithKey(CertificateStore.ClientName);
                foreach (var process in processes)
                {
                    await WaitServingAsync(process, authority, client, cancellationToken).ConfigureAwait(false);
                }

                await ShowPoolsAsync(mesh, authority, client, cancellationToken).ConfigureAwait(false);
                var entryNode = parse.GetValue(entry) is { } entryId
                    ? mesh.FindNode(entryId) ?? throw new CliException($"--entry: no node '{entryId}' in {mesh.SourcePath}")
                    : mesh.AllNodes.First();
                var (asked, why) = parse.GetValue(model) is { } named ? (named, "") : DemoModel(mesh, entryNode);
                using var channel = MeshChannels.Create(entryNode.Listen, authority, client);
                if (why.Length > 0)
                {
                    await WaitForRouteAsync(new Admin.AdminClient(channel), entryNode, asked, cancellationToken).ConfigureAwait(false);
                }

                Console.Error.WriteLine($"every process is SERVING; asking {entryNode.Id} (pool {entryNode.Pool}) for {asked}{why}: {parse.GetValue(prompt)}");
                var request = new ChatRequest { Model = asked };
                request.Messages.Add(new V1.ChatMessage { Role = Role.User, Content = parse.GetValue(prompt)! });
                var exit = await ChatCommand.StreamAsync(new Router.RouterClient(channel), request, TimeSpan.FromSeconds(60), Console.Out, Console.Error, cancellationToken)
                    .ConfigureAwait(false);

                if (parse.GetValue(keep))
                {
                    Console.Error.WriteLine($"nodes keep running; Ctrl+C (or SIGTERM to pid {Environment.ProcessId}) drains and stops them");
                    await signals.WaitForSignalAsync().ConfigureAwait(false);
                }

                return exit;
            }
            catch (Exception ex) when (signals.WaitForSignalAsync().IsCompleted && ex is OperationCanceledException or Grpc.Core.RpcException { StatusCode: Grpc.Core.StatusCode.Cancelled })
            {
                Console.Error.WriteLine("signal received before the answer was complete");
                return 130;
            }
            finally
            {
                if (signals.WaitForSignalAsync().IsCompleted)
                {
                    Console.Error.WriteLine($"draining and stopping the {processes.Count} process(es) up started");
                }

                await StopAllAsync(processes, mesh.Server).ConfigureAwait(false);
            }
        });
        return command;
    }

    private static async Task WaitServingAsync(
        MeshProcess node, System.Security.Cryptography.X509Certificates.X509Certificate2 authority,
        System.Security.Cryptography.X509Certificates.X509Certificate2 client, CancellationToken cancellationToken)
    {
        using var channel = MeshChannels.Create(node.Listen, authority, client);
        var health = new Health.HealthClient(channel);
        var started = Stopwatch.StartNew();
        string lastSeen = "no answer yet";
        while (started.Elapsed < StartupBound)
        {
            if (node.Process.HasExited)
            {
                throw new CliException($"{node.Description} exited with code {node.Process.ExitCode} before serving; its log:{Environment.NewLine}{node.ReadLog()}");
            }

            try
            {
                var reply = await health.CheckAsync(new HealthCheckRequest(), deadline: TimeProvider.System.GetUtcNow().UtcDateTime.AddSeconds(2), cancellationToken: cancellationToken)
                    .ConfigureAwait(false);
                if (reply.Status == HealthCheckResponse.Types.ServingStatus.Serving)
                {
                    return;
                }

                lastSeen = reply.Status.ToString();
            }
            catch (Grpc.Core.RpcException ex)
            {
                lastSeen = $"{ex.StatusCode}: {ex.Status.Detail}";
            }

            await Task.Delay(TimeSpan.FromMilliseconds(200), cancellationToken).ConfigureAwait(false);
        }

        throw new CliException($"{node.Description} did not report SERVING within {StartupBound.TotalSeconds:0}s (last seen: {lastSeen}); its log is {node.LogPath}");
    }

    /// <summary>
    /// The model that shows the mesh at work across subnets: the best chat model that the entry node's pool
    /// does not have, that another pool has, and that an integrator joining both carries. Without one, auto.
    /// </summary>
    private static (string Model, string Why) DemoModel(MeshConfig mesh, NodeConfig entry)
    {
        var local = mesh.Pools.Single(p => p.Name == entry.Pool).Nodes
            .SelectMany(n => n.Backends).SelectMany(b => b.Models).Select(m => m.Id).ToHashSet(StringComparer.Ordinal);
        var behind = mesh.Integrators
            .Where(i => i.Pools.Any(p => p.Pool == entry.Pool))
            .SelectMany(i => i.Pools.Where(p => p.Pool != entry.Pool).SelectMany(p => mesh.Pools.Single(pool => pool.Name == p.Pool).Nodes)
                .SelectMany(n => n.Backends.SelectMany(b => b.Models.Select(m => (Model: m, Node: n))))
                .Where(x => i.Export.Count == 0 || i.Export.Contains(x.Model.Id) || x.Model.Aliases.Any(i.Export.Contains)))
            .Where(x => x.Model.Kind == ModelKindConfig.Chat && !local.Contains(x.Model.Id))
            .OrderByDescending(x => x.Model.Quality)
            .FirstOrDefault();
        return behind.Model is null
            ? ("auto", "")
            : (behind.Model.Id, $", which only pool {behind.Node.Pool} has");
    }

    /// <summary>Waits (bounded) until the entry node has a route to the model from an integrator.</summary>
    private static async Task WaitForRouteAsync(Admin.AdminClient admin, NodeConfig entry, string model, CancellationToken cancellationToken)
    {
        var started = Stopwatch.StartNew();
        while (started.Elapsed < TimeSpan.FromSeconds(20))
        {
            var known = await admin.ListMeshModelsAsync(new ListMeshModelsRequest(), deadline: TimeProvider.System.GetUtcNow().UtcDateTime.AddSeconds(5), cancellationToken: cancellationToken)
                .ConfigureAwait(false);
            var routes = known.Routes.Where(r => r.Route.Model.Id == model).ToList();
            if (routes.Count > 0)
            {
                Console.Error.WriteLine($"{entry.Id} has routes to {model}: {string.Join("; ", routes.Select(r => $"via {r.Integrator} through {string.Join(" > ", r.Route.Pools)} (free {r.Route.FreeCapacity})"))}");
                return;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(200), cancellationToken).ConfigureAwait(false);
        }

        Console.Error.WriteLine($"{entry.Id} has no route to {model} after 20s; asking anyway");
    }

    /// <summary>Waits (bounded) until each pool's first node sees every node and integrator of its pool alive, and prints the pools.</summary>
    private static async Task ShowPoolsAsync(
        MeshConfig mesh, System.Security.Cryptography.X509Certificates.X509Certificate2 authority,
        System.Security.Cryptography.X509Certificates.X509Certificate2 client, CancellationToken cancellationToken)
    {
        foreach (var pool in mesh.Pools)
        {
            using var channel = MeshChannels.Create(pool.Nodes[0].Listen, authority, client);
            var admin = new Admin.AdminClient(channel);
            var started = Stopwatch.StartNew();
            ListMembersResponse members;
            do
            {
                members = await admin.ListMembersAsync(new ListMembersRequest(), deadline: TimeProvider.System.GetUtcNow().UtcDateTime.AddSeconds(5), cancellationToken: cancellationToken)
                    .ConfigureAwait(false);
                if (members.Members.Count(m => m.Status == MemberStatus.Alive) >= pool.Nodes.Count + mesh.Integrators.Count(i => i.Pools.Any(p => p.Pool == pool.Name)))
                {
                    break;
                }

                await Task.Delay(TimeSpan.FromMilliseconds(200), cancellationToken).ConfigureAwait(false);
            }
            while (started.Elapsed < TimeSpan.FromSeconds(15));

            var listed = string.Join(", ", members.Members.Select(m => $"{m.Id} {m.Status.ToString().ToLowerInvariant()}"));
            Console.Error.WriteLine($"pool {pool.Name} as {pool.Nodes[0].Id} sees it (gossip): {listed}");
        }
    }

    private static async Task StopAllAsync(List<MeshProcess> processes, ServerSettings server)
    {
        foreach (var process in processes)
        {
            process.Terminate();
        }

        var bound = server.DrainNotice + server.DrainTimeout + TimeSpan.FromSeconds(5);
        foreach (var process in processes)
        {
            using var timeout = new CancellationTokenSource(bound);
            try
            {
                await process.Process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                process.Process.Kill(entireProcessTree: true);
            }

            process.Process.Dispose();
        }
    }
}
