using LlmRouter.Common.Membership;
using LlmRouter.Common.Grpc;
using LlmRouter.Common.Identity;
using LlmRouter.Common.Configuration;
using LlmRouter.Node.Membership;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.ServiceDiscovery;

namespace LlmRouter.Tests.Node.Membership;

/// <summary>Seeds resolve through Microsoft.Extensions.ServiceDiscovery's configuration endpoints.</summary>
public sealed class SeedResolverTests
{
    [Fact]
    public async Task ResolveAsync_PoolSeedsFromTheMeshFile_ReturnsTheirUrls()
    {
        var yaml = """
            mesh:
              name: m
            pools:
              - name: pool-a
                seeds: [https://127.0.0.1:7101, https://seed.pool-a.internal:7443]
                nodes:
                  - id: n1
                    listen: https://127.0.0.1:7101
                    backends:
                      - id: sim
                        kind: simulated
                        models:
                          - id: m
              - name: pool-b
                nodes:
                  - id: n2
                    listen: https://127.0.0.1:7201
                    backends:
                      - id: sim
                        kind: simulated
                        models:
                          - id: m
            """;
        var mesh = MeshConfigLoader.Parse(yaml, "mesh.yaml", "/tmp");
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(SeedResolver.Configuration(mesh)).Build());
        services.AddServiceDiscoveryCore();
        services.AddConfigurationServiceEndpointProvider();
        services.AddPassThroughServiceEndpointProvider();
        await using var provider = services.BuildServiceProvider();
        var resolver = new SeedResolver(provider.GetRequiredService<ServiceEndpointResolver>());

        var poolA = await resolver.ResolveAsync("pool-a", CancellationToken.None);
        var poolB = await resolver.ResolveAsync("pool-b", CancellationToken.None);

        Assert.Equal(["https://127.0.0.1:7101", "https://seed.pool-a.internal:7443"], poolA);
        Assert.Equal(["https://127.0.0.1:7201"], poolB);
    }
}
