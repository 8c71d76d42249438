using LlmRouter.Common.Protocol;
using System.Net;
using System.Net.Http.Headers;
using Grpc.Core;
using Grpc.Health.V1;
using LlmRouter.Tests.Infrastructure;
using LlmRouter.V1;
using Microsoft.Extensions.DependencyInjection;
using static LlmRouter.Tests.Node.ChatRequests;

namespace LlmRouter.Tests.Node;

/// <summary>Every bad request gets its own status and a message naming the field; the node stays healthy.</summary>
public sealed class BadInputTests : IAsyncLifetime
{
    private TestNode _node = null!;

    public async Task InitializeAsync() =>
        _node = await TestNode.StartAsync(MeshYaml.SingleNode(MeshYaml.Simulated(), server: "max_request_bytes: 2048\nmax_messages: 4"));

    public async Task DisposeAsync() => await _node.DisposeAsync();

    private async Task<RpcException> Refused(ChatRequest request)
    {
        var refused = await Assert.ThrowsAsync<RpcException>(() => ReadAll(_node.Router.Chat(request)));
        var health = await _node.Health.CheckAsync(new HealthCheckRequest());
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, health.Status);
        // A refused call leaves nothing open: a drain would otherwise wait for it until its bound.
        Assert.Equal(0, _node.Services.GetRequiredService<LlmRouter.Common.Hosting.DrainState>().OpenStreams);
        return refused;
    }

    [Fact]
    public async Task Chat_NoMessages_InvalidArgumentNamingMessages()
    {
        var refused = await Refused(new ChatRequest { Model = "sim-model" });

        Assert.Equal(StatusCode.InvalidArgument, refused.StatusCode);
        Assert.StartsWith("messages:", refused.Status.Detail);
    }

    [Fact]
    public async Task Chat_UnknownRole_InvalidArgumentNamingTheMessage()
    {
        var request = Ask("sim-model", "hello");
        request.Messages.Add(new ChatMessage { Role = (Role)42, Content = "odd" });

        var refused = await Refused(request);

        Assert.Equal(StatusCode.InvalidArgument, refused.StatusCode);
        Assert.StartsWith("messages[1].role: unknown role 42", refused.Status.Detail);
    }

    [Fact]
    public async Task Chat_EmptyContent_InvalidArgumentNamingTheContent()
    {
        var request = Ask("sim-model", "hello");
        request.Messages[0].Content = "  ";

        var refused = await Refused(request);

        Assert.Equal(StatusCode.InvalidArgument, refused.StatusCode);
        Assert.StartsWith("messages[0].content:", refused.Status.Detail);
    }

    [Fact]
    public async Task Chat_NoModel_InvalidArgumentNamingModel()
    {
        var refused = await Refused(Ask("", "hello"));

        Assert.Equal(StatusCode.InvalidArgument, refused.StatusCode);
        Assert.StartsWith("model: required", refused.Status.Detail);
    }

    [Fact]
    public async Task Chat_ModelNoOneServes_NotFoundListingTheModelsHere()
    {
        var refused = await Refused(Ask("gpt-17", "hello"));

        Assert.Equal(StatusCode.NotFound, refused.StatusCode);
        Assert.Contains("'gpt-17'", refused.Status.Detail);
        Assert.Contains("sim-model", refused.Status.Detail);
    }

    [Fact]
    public async Task Chat_RequirementsNoModelMeets_NotFoundNamingThem()
    {
        var request = Ask("auto", "hello");
        request.Requirements = new ModelRequirements { MinContextTokens = 100_000 };

        var refused = await Refused(request);

        Assert.Equal(StatusCode.NotFound, refused.StatusCode);
        Assert.Contains("min_context_tokens 100000", refused.Status.Detail);
    }

    [Fact]
    public async Task Chat_UnknownPolicyLabel_InvalidArgument()
    {
        var request = Ask("sim-model", "hello");
        request.PolicyLabels.Add("moon-only");

        var refused = await Refused(request);

        Assert.Equal(StatusCode.InvalidArgument, refused.StatusCode);
        Assert.StartsWith("policy_labels[0]: unknown label 'moon-only'", refused.Status.Detail);
    }

    [Fact]
    public async Task Chat_UnknownProfile_InvalidArgumentListingProfiles()
    {
        var request = Ask("sim-model", "hello");
        request.RoutingProfile = "fastest";

        var refused = await Refused(request);

        Assert.Equal(StatusCode.InvalidArgument, refused.StatusCode);
        Assert.Contains("routing_profile: unknown profile 'fastest'", refused.Status.Detail);
        Assert.Contains("balanced", refused.Status.Detail);
    }

    [Fact]
    public async Task Chat_TemperatureOutOfRange_InvalidArgument()
    {
        var request = Ask("sim-model", "hello");
        request.Sampling.Temperature = 7;

        var refused = await Refused(request);

        Assert.Equal(StatusCode.InvalidArgument, refused.StatusCode);
        Assert.StartsWith("sampling.temperature:", refused.Status.Detail);
    }

    [Fact]
    public async Task Chat_TooManyMessages_InvalidArgumentNamingTheLimit()
    {
        var request = Ask("sim-model", "1");
        for (var i = 0; i < 4; i++)
        {
            request.Messages.Add(new ChatMessage { Role = Role.User, Content = "more" });
        }

        var refused = await Refused(request);

        Assert.Equal(StatusCode.InvalidArgument, refused.StatusCode);
        Assert.Contains("server.max_messages", refused.Status.Detail);
    }

    [Fact]
    public async Task Chat_RequestOverSizeLimit_ResourceExhaustedNamingTheSizeTheLimitAndTheSetting()
    {
        var request = Ask("sim-model", new string('x', 4096));

        var refused = await Refused(request);

        Assert.Equal(StatusCode.ResourceExhausted, refused.StatusCode);
        Assert.Equal($"request: {request.CalculateSize()} bytes, over this mesh's limit of 2048 bytes (server.max_request_bytes in the mesh file)", refused.Status.Detail);
        Assert.NotNull((await ReadAll(_node.Router.Chat(Ask("sim-model", new string('x', 1900)))))[^1].Completed);
    }

    [Fact]
    public async Task Chat_GarbageBytesOnTheWire_InternalStatusAndNodeStaysHealthy()
    {
        // A well-framed gRPC message whose payload is not a ChatRequest.
        var payload = new byte[] { 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x12, 0x99, 0x01 };
        var body = new byte[5 + payload.Length];
        body[4] = (byte)payload.Length;
        payload.CopyTo(body, 5);

        var handler = new SocketsHttpHandler
        {
            SslOptions = { RemoteCertificateValidationCallback = (_, _, _, _) => true },
        };
        using var http = new HttpClient(handler);
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(_node.Address, "/llmrouter.v1.Router/Chat"))
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent(body),
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
        request.Headers.TryAddWithoutValidation("te", "trailers");

        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        await response.Content.ReadAsByteArrayAsync();
        var status = response.TrailingHeaders.TryGetValues("grpc-status", out var values)
            ? values.Single()
            : response.Headers.GetValues("grpc-status").Single();

        Assert.Equal(((int)StatusCode.Internal).ToString(System.Globalization.CultureInfo.InvariantCulture), status);
        var health = await _node.Health.CheckAsync(new HealthCheckRequest());
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, health.Status);
        Assert.NotNull((await ReadAll(_node.Router.Chat(Ask("sim-model", "still fine"))))[^1].Completed);
    }
}
