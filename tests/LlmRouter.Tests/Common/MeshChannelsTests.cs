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
    public async Task Call_PeerBackAfterSecondsOfRefusedConnections_ConnectsWithinASecondOrTwo()
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

            // Nobody listens for 12 s: every call is refused and the channel's reconnect backoff grows (by default to several seconds by then).
            var away = System.Diagnostics.Stopwatch.StartNew();
            while (away.Elapsed < TimeSpan.FromSeconds(12))
            {
                Assert.False(await Answers());
                await Task.Delay(200);
            }

            await using var node = await TestNode.StartAsync(mesh, "n1", listen: new Uri($"https://127.0.0.1:{port}"));
            var back = System.Diagnostics.Stopwatch.StartNew();
            while (!await Answers())
            {
                Assert.True(back.Elapsed < TimeSpan.FromSeconds(2), "the channel was still backing off 2 s after the peer came back");
                await Task.Delay(100);
            }
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }
}
