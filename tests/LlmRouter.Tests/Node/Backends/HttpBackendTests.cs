using Grpc.Core;
using Grpc.Health.V1;
using LlmRouter.Common.Protocol;
using LlmRouter.Tests.Fakes;
using LlmRouter.Tests.Infrastructure;
using LlmRouter.V1;
using static LlmRouter.Tests.Node.ChatRequests;

namespace LlmRouter.Tests.Node.Backends;

/// <summary>
/// The OpenAI-compatible and Anthropic backends against local servers that speak each provider's real
/// wire format (JSON and SSE streaming): answers stream through, errors map to gRPC statuses, and a client
/// that leaves closes the provider stream.
/// </summary>
public sealed class HttpBackendTests
{
    private const string Key = "test-key-123";

    private static string OpenAIBackend(string kind, Uri baseUrl, string limits = "") => $"""
        - id: local-llm
          kind: {kind}
          base_url: {baseUrl}
          api_key_env: LOCAL_LLM_KEY
        {limits}
          models:
            - id: qwen
              upstream_model: qwen2.5-7b-instruct
              features: [tools, json, vision]
            - id: embedder
              upstream_model: text-embedding-3-small
              kind: embedding
              dimensions: 8
        """;

    private static string AnthropicBackend(Uri baseUrl, string limits = "") => $"""
        - id: claude
          kind: anthropic
          base_url: {baseUrl}
          api_key_env: ANTHROPIC_TEST_KEY
        {limits}
          models:
            - id: sonnet
              upstream_model: claude-sonnet-4-5
              features: [tools, json, vision]
        """;

    private static Task<TestNode> Node(string backend, string sections = "") =>
        TestNode.StartAsync(MeshYaml.SingleNode(backend) + sections, environment: name => name is "LOCAL_LLM_KEY" or "ANTHROPIC_TEST_KEY" ? Key : null);

    /// <summary>Each kind of HTTP backend: our own wire client (openai-compatible), the OpenAI SDK (openai) and the Anthropic SDK.</summary>
    public static TheoryData<string> Providers => ["openai-compatible", "openai", "anthropic"];

    /// <summary>A fake provider and a node with one backend on it; <paramref name="limits"/> adds backend settings, <paramref name="sections"/> top-level sections of the mesh file.</summary>
    internal static async Task<(FakeProviderServer Server, TestNode Node, string Model)> Start(string provider, string limits = "", string sections = "")
    {
        if (provider != "anthropic")
        {
            var openAi = await FakeOpenAIServer.StartAsync();
            openAi.RequiredApiKey = Key;
            return (openAi, await Node(OpenAIBackend(provider, openAi.BaseUrl, limits), sections), "qwen");
        }

        var anthropic = await FakeAnthropicServer.StartAsync();
        anthropic.RequiredApiKey = Key;
        return (anthropic, await Node(AnthropicBackend(anthropic.BaseUrl, limits), sections), "sonnet");
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Chat_ProviderStreams_TokensRelayedWithUsageAndFinishReason(string provider)
    {
        var (server, node, model) = await Start(provider);
        await using var _ = server;
        await using var __ = node;
        server.Reply = new FakeReply { Tokens = ["The", " mesh", " answers", "."], InputTokens = 11 };

        var frames = await ReadAll(node.Router.Chat(Ask(model, "What does the mesh do?", maxTokens: 50)));

        Assert.Equal(["The", " mesh", " answers", "."], frames.Where(f => f.Delta is not null).Select(f => f.Delta.Text));
        Assert.Equal(provider, frames[0].Route.BackendKind);
        var completed = frames[^1].Completed;
        Assert.Equal(FinishReason.Stop, completed.FinishReason);
        Assert.Equal(11UL, completed.Usage.InputTokens);
        Assert.Equal(4UL, completed.Usage.OutputTokens);
        var body = server.Requests[^1].ToJsonString();
        Assert.Contains(provider != "anthropic" ? "qwen2.5-7b-instruct" : "claude-sonnet-4-5", body);
        Assert.Contains("What does the mesh do?", body);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Chat_Provider429_ResourceExhaustedWithProvidersRetryAfterAsPushback(string provider)
    {
        var (server, node, model) = await Start(provider);
        await using var _ = server;
        await using var __ = node;
        server.Reply = new FakeReply { ErrorStatus = 429, ErrorMessage = "Rate limit reached for requests", RetryAfterSeconds = 7 };

        var refused = await Assert.ThrowsAsync<RpcException>(() => ReadAll(node.Router.Chat(Ask(model, "hi"))));

        Assert.Equal(StatusCode.ResourceExhausted, refused.StatusCode);
        Assert.Contains("Rate limit reached for requests", refused.Status.Detail);
        Assert.Equal("7000", refused.Trailers.GetValue(RouterMetadata.RetryPushback));
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Chat_Provider400_InvalidArgumentWithProvidersMessage(string provider)
    {
        var (server, node, model) = await Start(provider);
        await using var _ = server;
        await using var __ = node;
        server.Reply = new FakeReply { ErrorStatus = 400, ErrorMessage = "max_tokens: must be less than 8192" };

        var refused = await Assert.ThrowsAsync<RpcException>(() => ReadAll(node.Router.Chat(Ask(model, "hi"))));

        Assert.Equal(StatusCode.InvalidArgument, refused.StatusCode);
        Assert.Contains("max_tokens: must be less than 8192", refused.Status.Detail);
        Assert.Contains(provider != "anthropic" ? "backend 'local-llm'" : "backend 'claude'", refused.Status.Detail);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Chat_Provider5xx_UnavailableNamingTheBackend(string provider)
    {
        var (server, node, model) = await Start(provider);
        await using var _ = server;
        await using var __ = node;
        server.Reply = new FakeReply { ErrorStatus = 503, ErrorMessage = "The server is overloaded" };

        var refused = await Assert.ThrowsAsync<RpcException>(() => ReadAll(node.Router.Chat(Ask(model, "hi"))));

        Assert.Equal(StatusCode.Unavailable, refused.StatusCode);
        Assert.Contains("503", refused.Status.Detail);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Chat_WrongApiKey_UnavailableSayingToCheckTheKeyVariable(string provider)
    {
        var (server, node, model) = await Start(provider);
        await using var _ = server;
        await using var __ = node;
        server.RequiredApiKey = "another-key";

        var refused = await Assert.ThrowsAsync<RpcException>(() => ReadAll(node.Router.Chat(Ask(model, "hi"))));

        Assert.Equal(StatusCode.Unavailable, refused.StatusCode);
        Assert.Contains("api_key_env", refused.Status.Detail);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Chat_MalformedStream_UnavailableNamingTheBackendAndNodeStaysHealthy(string provider)
    {
        var (server, node, model) = await Start(provider);
        await using var _ = server;
        await using var __ = node;
        server.Reply = new FakeReply { MalformedStream = true };

        var refused = await Assert.ThrowsAsync<RpcException>(() => ReadAll(node.Router.Chat(Ask(model, "hi"))));

        Assert.Equal(StatusCode.Unavailable, refused.StatusCode);
        Assert.Contains(provider != "anthropic" ? "backend 'local-llm'" : "backend 'claude'", refused.Status.Detail);
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, (await node.Health.CheckAsync(new HealthCheckRequest())).Status);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Chat_ProviderStalls_UnavailableAfterStallTimeoutAndProviderStreamClosed(string provider)
    {
        var (server, node, model) = await Start(provider, limits: "  stall_timeout: 300ms");
        await using var _ = server;
        await using var __ = node;
        server.Reply = new FakeReply { StallAfterTokens = 2 };

        // The stall is noticed after stall_timeout, long before first_token_timeout (60 s) or this deadline.
        var refused = await Assert.ThrowsAsync<RpcException>(() => ReadAll(node.Router.Chat(Ask(model, "hi"), deadline: TimeProvider.System.GetUtcNow().UtcDateTime.AddSeconds(15))));

        Assert.Equal(StatusCode.Unavailable, refused.StatusCode);
        Assert.Contains("stalled", refused.Status.Detail);
        Assert.Equal("true", refused.Trailers.GetValue(RouterMetadata.Partial));
        await server.WaitForCancelledStreamsAsync(1, TimeSpan.FromSeconds(5));
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Chat_ClientCancelsMidStream_ProviderStreamClosedAndNothingWrittenAfter(string provider)
    {
        var (server, node, model) = await Start(provider);
        await using var _ = server;
        await using var __ = node;
        server.Reply = new FakeReply { Tokens = Enumerable.Repeat(" token", 200).ToList(), DelayBetweenTokens = TimeSpan.FromMilliseconds(50) };
        using var cancel = new CancellationTokenSource();

        using var call = node.Router.Chat(Ask(model, "long"), cancellationToken: cancel.Token);
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        cancel.Cancel();

        // The provider's stream is closed once the cancellation has travelled (promptly, but a loaded machine
        // may take a second or two): the answer is cut, never written to its end, and the stream is gone.
        await server.WaitForCancelledStreamsAsync(1, TimeSpan.FromSeconds(10));
        Assert.InRange(server.TokensWritten, 1, 199);
        Assert.Equal(0, server.ActiveStreams);
    }

    /// <summary>How OpenAI-compatible servers end a stream that failed after its first tokens, and what the client is told.</summary>
    [Theory]
    [InlineData("error event", "reported an error in its stream: CUDA out of memory")]
    [InlineData("llama.cpp error line", "sent a malformed response: the stream ended without a finish reason")]
    [InlineData("cut short", "sent a malformed response: the stream ended without a finish reason")]
    public async Task Chat_StreamFailsAfterItsFirstTokens_UnavailableNamingTheBackendAndThePartialMarker(string ending, string detail)
    {
        var (server, node, model) = await Start("openai-compatible");
        await using var _ = server;
        await using var __ = node;
        server.Reply = ending switch
        {
            "error event" => new FakeReply { Tokens = ["Hel", "lo"], StreamErrorMessage = "CUDA out of memory" },
            "llama.cpp error line" => new FakeReply { Tokens = ["Hel", "lo"], ErrorLineMessage = "context size exceeded" },
            _ => new FakeReply { Tokens = ["Hel", "lo"], CutShort = true },
        };

        var refused = await Assert.ThrowsAsync<RpcException>(() => ReadAll(node.Router.Chat(Ask(model, "hi"))));

        // Never an answer that ended: the client (or a continuation) knows the text stopped short.
        Assert.Equal(StatusCode.Unavailable, refused.StatusCode);
        Assert.Contains($"backend 'local-llm' {detail}", refused.Status.Detail);
        Assert.Equal("true", refused.Trailers.GetValue(RouterMetadata.Partial));
    }

    [Fact]
    public async Task Chat_ServerAnswersWholeThoughAStreamWasAsked_TextFinishAndUsageRelayed()
    {
        var (server, node, model) = await Start("openai-compatible");
        await using var _ = server;
        await using var __ = node;
        server.Reply = new FakeReply { Tokens = ["Whole", " at once"], IgnoresStream = true, InputTokens = 4 };

        var frames = await ReadAll(node.Router.Chat(Ask(model, "hi")));

        Assert.Equal("Whole at once", Text(frames));
        Assert.Equal(FinishReason.Stop, frames[^1].Completed.FinishReason);
        Assert.Equal(4UL, frames[^1].Completed.Usage.InputTokens);
        Assert.Equal(2UL, frames[^1].Completed.Usage.OutputTokens);
    }

    [Fact]
    public async Task Chat_ConnectionRefused_UnavailableNamingTheBackend()
    {
        var closedPort = new Uri("http://127.0.0.1:9/v1/");
        await using var node = await Node(OpenAIBackend("openai-compatible", closedPort));

        var refused = await Assert.ThrowsAsync<RpcException>(() => ReadAll(node.Router.Chat(Ask("qwen", "hi"))));

        Assert.Equal(StatusCode.Unavailable, refused.StatusCode);
        Assert.Contains("backend 'local-llm' is unreachable", refused.Status.Detail);
    }

    [Fact]
    public async Task Embed_OpenAICompatible_ReturnsTheProvidersVectors()
    {
        await using var server = await FakeOpenAIServer.StartAsync();
        server.RequiredApiKey = Key;
        await using var node = await Node(OpenAIBackend("openai-compatible", server.BaseUrl));
        var request = new EmbedRequest { Model = "embedder" };
        request.Inputs.Add(["first", "second"]);

        var response = await node.Router.EmbedAsync(request);

        Assert.Equal(2, response.Embeddings.Count);
        Assert.All(response.Embeddings, e => Assert.Equal(8, e.Values.Count));
        Assert.NotEqual(response.Embeddings[0].Values, response.Embeddings[1].Values);
        Assert.Contains("text-embedding-3-small", server.Requests[^1].ToJsonString());
    }
}
