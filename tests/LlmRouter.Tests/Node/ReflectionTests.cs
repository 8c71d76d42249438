using Grpc.Core;
using LlmRouter.Tests.Infrastructure;
using ReflectionV1 = Grpc.Reflection.V1;
using V1Alpha = Grpc.Reflection.V1Alpha;

namespace LlmRouter.Tests.Node;

/// <summary>Reflection tooling (grpcurl, buf curl, Postman) sees every service, over both reflection versions.</summary>
public sealed class ReflectionTests
{
    private static readonly string[] Expected =
    [
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
        "llmrouter.v1.Admin",
        "llmrouter.v1.Mesh",
        "llmrouter.v1.Router",
    ];

    [Fact]
    public async Task ListServices_ReflectionV1_ListsRouterHealthAndReflection()
    {
        await using var node = await TestNode.StartAsync(MeshYaml.SingleNode(MeshYaml.Simulated()));

        using var call = new ReflectionV1.ServerReflection.ServerReflectionClient(node.Channel).ServerReflectionInfo();
        await call.RequestStream.WriteAsync(new ReflectionV1.ServerReflectionRequest { ListServices = "" });
        await call.RequestStream.WriteAsync(new ReflectionV1.ServerReflectionRequest { FileContainingSymbol = "llmrouter.v1.Router" });
        await call.RequestStream.CompleteAsync();
        var responses = await call.ResponseStream.ReadAllAsync().ToListAsync();

        Assert.Equal(Expected, responses[0].ListServicesResponse.Service.Select(s => s.Name).Order());
        Assert.NotEmpty(responses[1].FileDescriptorResponse.FileDescriptorProto);
    }

    [Fact]
    public async Task ListServices_ReflectionV1Alpha_ListsTheSameServices()
    {
        await using var node = await TestNode.StartAsync(MeshYaml.SingleNode(MeshYaml.Simulated()));

        using var call = new V1Alpha.ServerReflection.ServerReflectionClient(node.Channel).ServerReflectionInfo();
        await call.RequestStream.WriteAsync(new V1Alpha.ServerReflectionRequest { ListServices = "" });
        await call.RequestStream.CompleteAsync();
        var response = await call.ResponseStream.ReadAllAsync().SingleAsync();

        Assert.Equal(Expected, response.ListServicesResponse.Service.Select(s => s.Name).Order());
    }
}
