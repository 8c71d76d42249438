using Grpc.Core;
using Grpc.Health.V1;
using LlmRouter.Common.Configuration;
using LlmRouter.Common.Identity;
using LlmRouter.Tests.Infrastructure;

namespace LlmRouter.Tests.Common;

/// <summary>Mesh channels reach a peer that comes back soon after it does, whatever happened while it was away.</summary>
public sealed class MeshChannelsTests
{
    [Fact]
    public async Task Call_PeerBackAfterSecondsOfRefusedConnections_ConnectsWithinItsBackoffCap()
    {
        var port = TestMesh.FreePort();
        var directory = Directory.CreateTempSubdirectory("llmrouter-channels-");
        try
        {
            var path = Path.Combine(directory.FullName, "mesh.yaml");
            await File.WriteAllTextAsync(path, MeshYaml.SingleNode(MeshYaml.Simulated()).Replace(":7999", $":{port}", StringComparison.Ordinal));
            var mesh = MeshConfigLoader.Load(path);
            var store = new CertificateStore(mesh.CertificatesDirectory);
            store.EnsureForMesh(mesh, TimeProvider.System.GetUtcNow());
            using var channel = MeshChannels.Create(new Uri($"https://127.0.0.1:{port}"), store.LoadCertificate(CertificateStore.CaName), store.LoadWithKey(CertificateStore.ClientName));
            var health = new Health.HealthClient(channel);
            async Task<bool> Answers()
            {
                try
                {
                    await health.CheckAsync(new HealthCheckRequest(), deadline: TimeProvider.System.GetUtcNow().UtcDateTime.AddSeconds(1));
                    return true;
                }
                catch (RpcException)
                {
                    return false;
                }
            }

            // The channel has reached the peer once; then the peer goes away for 12 s (the scenario, not a wait
            // for an event): nobody listens, every call is refused, and the channel's reconnect backoff grows.
            await using (var first = await TestNode.StartAsync(mesh, "n1", listen: new Uri($"https://127.0.0.1:{port}")))
            {
                // The first call pays the handshake and the JIT: on a busy machine more than one call's 1 s deadline.
                await Eventually.WaitUntil(Answers, "the channel reaches the peer a first time", () => Task.FromResult("no answer yet"), TimeSpan.FromSeconds(30));
            }

            var away = System.Diagnostics.Stopwatch.StartNew();
            await Eventually.WaitUntil(
                async () =>
                {
                    Assert.False(await Answers());
                    return away.Elapsed > TimeSpan.FromSeconds(12);
                },
                "twelve seconds of refused calls", () => Task.FromResult($"{away.Elapsed.TotalSeconds:0.0} s"), TimeSpan.FromSeconds(60));

            await using var node = await TestNode.StartAsync(mesh, "n1", listen: new Uri($"https://127.0.0.1:{port}"));
            await Eventually.WaitUntil(Answers, "the channel reaches the peer that came back, within its 1 s backoff cap and a handshake",
                () => Task.FromResult("no answer yet"), TimeSpan.FromSeconds(5));
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }
}
