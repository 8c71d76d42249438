using System.Diagnostics;
using LlmRouter.Common.Identity;
using LlmRouter.Tests.Common;
using LlmRouter.Tests.Infrastructure;

namespace LlmRouter.Tests.Node;

/// <summary>
/// A client in another language, generated from protos/ with protoc and grpcio, streams a chat over mutual
/// TLS. Needs protoc, grpc_python_plugin and python3 with grpcio (test.sh installs them).
/// </summary>
public sealed class PythonClientTests
{
    private const string Python = "/usr/bin/python3";

    [Fact]
    public async Task GeneratedPythonClient_StreamsChatOverMutualTls()
    {
        await using var node = await TestNode.StartAsync(MeshYaml.SingleNode(MeshYaml.Simulated()));
        var root = MeshConfigLoaderTests.RepositoryRoot();
        var stubs = Directory.CreateTempSubdirectory("llmrouter-python-");
        try
        {
            var plugin = Which("grpc_python_plugin");
            await Run("protoc", $"-I{root}/protos --python_out={stubs.FullName} --grpc_out={stubs.FullName} --plugin=protoc-gen-grpc={plugin} {root}/protos/llmrouter/v1/router.proto");
            var store = new CertificateStore(node.Mesh.CertificatesDirectory);

            var output = await Run(Python,
                $"{root}/tests/clients/python/chat_client.py --stubs {stubs.FullName} --address 127.0.0.1:{node.Address.Port} " +
                $"--ca {store.CertificatePath("ca")} --cert {store.CertificatePath("client")} --key {store.KeyPath("client")} " +
                "--model sim-model --max-tokens 5 \"hello from python\"");

            var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal("ROUTE serving_node=n1 backend=sim model=sim-model", lines[0]);
            Assert.Equal(5, lines.Count(l => l.StartsWith("DELTA ", StringComparison.Ordinal)));
            Assert.Equal("DONE finish=FINISH_REASON_LENGTH output_tokens=5 hops=1", lines[^1]);
        }
        finally
        {
            stubs.Delete(recursive: true);
        }
    }

    private static string Which(string tool) =>
        Environment.GetEnvironmentVariable("PATH")!.Split(':').Select(dir => Path.Combine(dir, tool)).FirstOrDefault(File.Exists)
        ?? throw new InvalidOperationException($"{tool} is not installed: apt-get install protobuf-compiler libprotobuf-dev protobuf-compiler-grpc python3-grpcio (test.sh installs them)");

    private static async Task<string> Run(string program, string arguments)
    {
        using var process = Process.Start(new ProcessStartInfo(program, arguments)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        }) ?? throw new InvalidOperationException($"cannot start {program}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(bound.Token);
        Assert.True(process.ExitCode == 0, $"{program} {arguments} exited {process.ExitCode}: {await stdout}{await stderr}");
        return await stdout;
    }
}
