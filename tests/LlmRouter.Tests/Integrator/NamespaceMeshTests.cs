using System.Diagnostics;
using System.Text;
using LlmRouter.Common.Configuration;
using LlmRouter.Common.Identity;
using LlmRouter.Tests.Common;
using LlmRouter.Tests.Infrastructure;

namespace LlmRouter.Tests.Integrator;

/// <summary>
/// One mesh across two real subnets (network namespaces, needs root; CI runs it): subnet A (a1, a2) and
/// subnet B (b1, b2) have no route to each other; integrators i1 and i2 each hold an interface in both.
/// Every node and integrator is a real process inside its namespace, with mutual TLS. Clients run inside
/// subnet A: the node's own CLI and a Python grpcio client generated from protos/.
/// </summary>
[Collection(ProcessCollection.Name)]
public sealed class NamespaceMeshTests
{
    private const string Python = "/usr/bin/python3";
    private const string BorderModel = "qwen2.5-72b";
    private static readonly TimeSpan CommandBound = TimeSpan.FromSeconds(60);

    private readonly Dictionary<string, (Process Process, StringBuilder Output)> _processes = new(StringComparer.Ordinal);
    private NetworkNamespaces _net = null!;
    private MeshConfig _mesh = null!;
    private string _stubs = "";

    [Fact]
    public async Task SubnetsJoinedByIntegrators_ServeAcrossTheBorder_SurviveAnIntegratorKillAndABorderCut_AndKeepSubnetOnlyAtHome()
    {
        var directory = Directory.CreateTempSubdirectory("llmrouter-netns-");
        _net = await NetworkNamespaces.CreateAsync(
            subnetA: ["10.231.1.1", "10.231.1.2"],
            subnetB: ["10.231.2.1", "10.231.2.2"],
            integrators: [("i1", "10.231.1.11", "10.231.2.11"), ("i2", "10.231.1.12", "10.231.2.12")]);
        try
        {
            await StartMeshAsync(directory.FullName);

            // The subnets are separate: A has no route to B; only the integrators reach both.
            Assert.False(await _net.HasRouteAsync(_net.SubnetA, "10.231.2.1"), "subnet A must not reach subnet B");
            Assert.True(await _net.HasRouteAsync(_net.Integrator("i1"), "10.231.2.1"));
            await RoutesAsync(present: true, through: ["i1", "i2"]);

            // 1. A streamed chat entering A is answered by the model only B has, through an integrator.
            var (exit, output) = await ChatFromAAsync(BorderModel);
            Assert.True(exit == 0, output);
            Assert.Matches(@"route: a1 \(subnet-a\) -> i[12] \(subnet-a\) -> b[12] \(subnet-b\)", output);

            // 2. One of two integrators killed under traffic: every request is answered (whole, or
            //    continued at a marked seam), none lost; new requests go through the other.
            var carriedByI1 = Carried("i1");
            var load = StartLoadFromA(requests: 40, concurrency: 8);
            await CarryingAsync("i1", carriedByI1, load);
            Assert.False(load.IsCompleted, "the load ended before i1 was killed");
            NodeProcessRunner.Signal(_processes["i1"].Process.Id, 9);
            var (loadExit, loadOutput) = await load;
            Assert.True(loadExit == 0, loadOutput);
            Assert.Matches(@"^40 sent: (\d+ continued, )?\d+ whole\s*$", loadOutput.Trim().Split('\n')[^1]);
            (exit, output) = await ChatFromAAsync(BorderModel);
            Assert.True(exit == 0, output);
            Assert.Contains("-> i2 (subnet-a) ->", output, StringComparison.Ordinal);

            StartProcess("i1", _net.Integrator("i1"), "llm-router-integrator.dll", ["run", "--config", _mesh.SourcePath, "--integrator", "i1"]);
            // RoutesAsync alone can pass on the killed i1's route, which a1 may still hold while it suspects i1: first the
            // restarted i1 advertises its own (a1 takes them in place of the old life's, numbered past them).
            await Eventually.WaitUntil(() => Output("i1").Contains($"Routes into pool subnet-a: 1: {BorderModel} ", StringComparison.Ordinal),
                "the restarted i1 advertises its route into subnet-a", () => Output("i1"), TimeSpan.FromSeconds(60));
            await RoutesAsync(present: true, through: ["i1", "i2"]);

            // 3. The border cut: first i2's link into B goes down during traffic (i1 carries on), then i1's
            //    too: the routes are withdrawn and a request for B's model gets a clear status. Links back
            //    up: the integrators rejoin B, the routes return, and the request is served again.
            var carriedByI2 = Carried("i2");
            load = StartLoadFromA(requests: 40, concurrency: 8);
            await CarryingAsync("i2", carriedByI2, load);
            Assert.False(load.IsCompleted, "the load ended before i2's border link was cut");
            await _net.SetBorderLinkAsync("i2", up: false);
            (loadExit, loadOutput) = await load;
            Assert.True(loadExit == 0, loadOutput);
            Assert.Matches(@"^40 sent: (\d+ continued, )?\d+ whole\s*$", loadOutput.Trim().Split('\n')[^1]);

            await _net.SetBorderLinkAsync("i1", up: false);
            await RoutesAsync(present: false, through: ["i1", "i2"]);
            (exit, output) = await ChatFromAAsync(BorderModel);
            Assert.True(exit != 0, output);
            Assert.Matches("NotFound|Unavailable", output);

            await _net.SetBorderLinkAsync("i1", up: true);
            await _net.SetBorderLinkAsync("i2", up: true);
            await RoutesAsync(present: true, through: ["i1", "i2"]);
            (exit, output) = await ChatFromAAsync(BorderModel);
            Assert.True(exit == 0, output);

            // 4. subnet-only never crosses: refused for B's model (no integrator carries it), served at home for A's.
            //    The count starts once the integrator's line for the request just answered has come in (its log
            //    reaches the test a moment after the answer does).
            var answered = System.Text.RegularExpressions.Regex.Match(output, "request ([0-9a-f]{32})").Groups[1].Value;
            await Eventually.WaitUntil(() => Output("i1").Contains($"Request {answered} served by", StringComparison.Ordinal)
                    || Output("i2").Contains($"Request {answered} served by", StringComparison.Ordinal),
                "the integrator that carried the last answer has logged it", () => $"request '{answered}' not in i1's or i2's log");
            var carried = Carried();
            (exit, output) = await ChatFromAAsync(BorderModel, "--label", "subnet-only");
            Assert.True(exit != 0, output);
            Assert.Contains("subnet-only", output, StringComparison.Ordinal);
            (exit, output) = await ChatFromAAsync("llama-3.1-8b", "--label", "subnet-only");
            Assert.True(exit == 0, output);
            Assert.Matches(@"route: a1 \(subnet-a\)( -> a2 \(subnet-a\))? \|", output);
            Assert.Equal(carried, Carried());
        }
        catch (Exception ex) when (ex is not TimeoutException)
        {
            throw new Xunit.Sdk.XunitException($"{ex.Message}\n{AllOutput()}");
        }
        finally
        {
            foreach (var (process, _) in _processes.Values)
            {
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                }
            }

            await _net.DisposeAsync();
            directory.Delete(recursive: true);
        }
    }

    private async Task StartMeshAsync(string directory)
    {
        var path = Path.Combine(directory, "mesh.yaml");
        await File.WriteAllTextAsync(path, Yaml);
        _mesh = MeshConfigLoader.Load(path);
        new CertificateStore(_mesh.CertificatesDirectory).EnsureForMesh(_mesh, TimeProvider.System.GetUtcNow());
        _stubs = Path.Combine(directory, "stubs");
        Directory.CreateDirectory(_stubs);
        var root = MeshConfigLoaderTests.RepositoryRoot();
        var plugin = Environment.GetEnvironmentVariable("PATH")!.Split(':').Select(dir => Path.Combine(dir, "grpc_python_plugin")).First(File.Exists);
        var protoc = await NetworkNamespaces.RunAsync("protoc",
            [$"-I{root}/protos", $"--python_out={_stubs}", $"--grpc_out={_stubs}", $"--plugin=protoc-gen-grpc={plugin}", $"{root}/protos/llmrouter/v1/router.proto"], CommandBound);
        Assert.True(protoc.ExitCode == 0, protoc.Output);

        foreach (var node in _mesh.AllNodes)
        {
            StartProcess(node.Id, node.Pool == "subnet-a" ? _net.SubnetA : _net.SubnetB, "llm-router-node.dll", ["run", "--config", path, "--node", node.Id]);
        }

        foreach (var integrator in _mesh.Integrators)
        {
            StartProcess(integrator.Id, _net.Integrator(integrator.Id), "llm-router-integrator.dll", ["run", "--config", path, "--integrator", integrator.Id]);
        }
    }

    private void StartProcess(string id, string ns, string assembly, string[] arguments)
    {
        var output = new StringBuilder();
        // Debug: each request's outcome is a line there, and Carried counts the integrators' lines.
        var process = NetworkNamespaces.Start(ns, "dotnet", [Path.Combine(AppContext.BaseDirectory, assembly), .. arguments, "--log-level", "Debug"], output);
        _processes[id] = (process, output);
    }

    /// <summary>Waits until a1 has (or no longer has) a route to B's model through each named integrator.</summary>
    private Task RoutesAsync(bool present, string[] through)
    {
        var last = "";
        return Eventually.WaitUntil(
            async () =>
            {
                var (exit, output) = await NodeCliInAAsync(["mesh-models"]);
                last = output;
                var lines = output.Split('\n').Where(line => line.StartsWith(BorderModel + " ", StringComparison.Ordinal)).ToList();
                var routed = through.Where(integrator => lines.Any(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries).ElementAtOrDefault(1) == integrator)).ToList();
                return exit == 0 && (present ? routed.Count == through.Length : routed.Count == 0);
            },
            $"a1 {(present ? "has" : "no longer has")} a route to {BorderModel} through {string.Join(", ", through)}",
            () => Task.FromResult($"mesh-models said:\n{last}\n{AllOutput()}"),
            TimeSpan.FromSeconds(90));
    }

    /// <summary>Waits until the integrator has carried two requests of the load that just started (so a kill or cut lands under traffic).</summary>
    private Task CarryingAsync(string integrator, int before, Task<(int ExitCode, string Output)> load) => Eventually.WaitUntil(
        () => Carried(integrator) >= before + 2 || load.IsCompleted,
        $"{integrator} carries requests of the load",
        () => $"{Carried(integrator) - before} carried; load {(load.IsCompleted ? "already finished" : "running")}",
        TimeSpan.FromSeconds(60));

    private Task<(int ExitCode, string Output)> ChatFromAAsync(string model, params string[] extra) =>
        NodeCliInAAsync(["chat", "--model", model, "--max-tokens", "12", .. extra, "hello across subnets"]);

    private Task<(int ExitCode, string Output)> NodeCliInAAsync(string[] command) =>
        NetworkNamespaces.ExecAsync(_net.SubnetA, "dotnet",
            [Path.Combine(AppContext.BaseDirectory, "llm-router-node.dll"), .. command, "--config", _mesh.SourcePath, "--node", "a1"], CommandBound);

    /// <summary>The Python load client in subnet A, sending to a1 with continuation allowed.</summary>
    private Task<(int ExitCode, string Output)> StartLoadFromA(int requests, int concurrency)
    {
        var store = new CertificateStore(_mesh.CertificatesDirectory);
        var script = Path.Combine(MeshConfigLoaderTests.RepositoryRoot(), "tests/clients/python/load_client.py");
        return NetworkNamespaces.ExecAsync(_net.SubnetA, Python,
            [script, "--stubs", _stubs, "--address", "10.231.1.1:7101", "--ca", store.CertificatePath("ca"),
             "--cert", store.CertificatePath("client"), "--key", store.KeyPath("client"), "--model", BorderModel,
             "--requests", requests.ToString(System.Globalization.CultureInfo.InvariantCulture),
             "--concurrency", concurrency.ToString(System.Globalization.CultureInfo.InvariantCulture), "--max-tokens", "30"],
            TimeSpan.FromSeconds(150));
    }

    private string Output(string id)
    {
        var output = _processes[id].Output;
        lock (output)
        {
            return output.ToString();
        }
    }

    /// <summary>Requests the integrators (or the one named) have carried across so far: the line each logs when the answer is complete.</summary>
    private int Carried(string? integrator = null) =>
        (integrator is null ? ["i1", "i2"] : new[] { integrator }).Sum(id => Output(id).Split('\n').Count(line => line.Contains(" served by ", StringComparison.Ordinal)));

    private string AllOutput() => string.Join("\n", _processes.Keys.Order(StringComparer.Ordinal).Select(id => $"--- {id} ---\n{Output(id)}"));

    private const string Yaml = MeshYaml.OpenAccess + """
        mesh:
          name: netns
          certificates: certs
        server:
          drain_timeout: 5s
          drain_notice: 0ms
        gossip:
          preset: local
        pools:
          - name: subnet-a
            nodes:
              - id: a1
                listen: https://10.231.1.1:7101
                backends:
                  - id: sim-small
                    kind: simulated
                    simulated: { time_to_first_token: 50ms, tokens_per_second: 100 }
                    models:
                      - { id: llama-3.1-8b, quality: 0.55 }
              - id: a2
                listen: https://10.231.1.2:7102
                backends:
                  - id: sim-small-2
                    kind: simulated
                    simulated: { time_to_first_token: 50ms, tokens_per_second: 100 }
                    models:
                      - { id: llama-3.1-8b, quality: 0.55 }
          - name: subnet-b
            nodes:
              - id: b1
                listen: https://10.231.2.1:7201
                backends:
                  - id: sim-large
                    kind: simulated
                    max_concurrency: 16
                    simulated: { time_to_first_token: 150ms, tokens_per_second: 60 }
                    models:
                      - { id: qwen2.5-72b, quality: 0.85 }
              - id: b2
                listen: https://10.231.2.2:7202
                backends:
                  - id: sim-large-2
                    kind: simulated
                    max_concurrency: 16
                    simulated: { time_to_first_token: 150ms, tokens_per_second: 60 }
                    models:
                      - { id: qwen2.5-72b, quality: 0.85 }
        integrators:
          - id: i1
            pools:
              - { pool: subnet-a, listen: https://10.231.1.11:7301 }
              - { pool: subnet-b, listen: https://10.231.2.11:7301 }
          - id: i2
            pools:
              - { pool: subnet-a, listen: https://10.231.1.12:7301 }
              - { pool: subnet-b, listen: https://10.231.2.12:7301 }
        """;
}
