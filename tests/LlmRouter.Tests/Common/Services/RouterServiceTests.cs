using Grpc.Core;
using Grpc.Core.Testing;
using LlmRouter.Common.Services;
using LlmRouter.Tests.Infrastructure;
using LlmRouter.V1;
using Microsoft.Extensions.DependencyInjection;

namespace LlmRouter.Tests.Common.Services;

/// <summary>Service methods called directly with a Grpc.Core.Testing call context.</summary>
public sealed class RouterServiceTests
{
    private static ServerCallContext Context(Metadata? headers = null) => TestServerCallContext.Create(
        "/llmrouter.v1.Router/ListModels", "localhost", TimeProvider.System.GetUtcNow().UtcDateTime.AddMinutes(1), headers ?? [],
        CancellationToken.None, "ipv4:127.0.0.1:5000", null, null, _ => Task.CompletedTask, () => new WriteOptions(), _ => { });

    [Fact]
    public async Task ListModels_UnknownKind_InvalidArgumentNamingKind()
    {
        await using var node = await TestNode.StartAsync(MeshYaml.SingleNode(MeshYaml.Simulated()));
        var service = ActivatorUtilities.CreateInstance<RouterService>(node.Services);

        var refused = await Assert.ThrowsAsync<RpcException>(() => service.ListModels(new ListModelsRequest { Kind = (ModelKind)9 }, Context()));

        Assert.Equal(StatusCode.InvalidArgument, refused.StatusCode);
        Assert.StartsWith("kind: unknown model kind 9", refused.Status.Detail);
    }

    [Fact]
    public async Task Embed_ForwardedRequestId_IsKeptInTheRoute()
    {
        await using var node = await TestNode.StartAsync(MeshYaml.SingleNode(MeshYaml.Simulated()));
        var service = ActivatorUtilities.CreateInstance<RouterService>(node.Services);
        var request = new EmbedRequest { Model = "sim-model-embed" };
        request.Inputs.Add("text");

        var response = await service.Embed(request, Context(new Metadata { { "llmrouter-request-id", "abc123" } }));

        Assert.Equal("abc123", response.Route.RequestId);
        Assert.Single(response.Embeddings);
    }
}
