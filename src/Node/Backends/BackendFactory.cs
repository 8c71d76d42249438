using System.ClientModel;
using System.ClientModel.Primitives;
using Anthropic;
using LlmRouter.Common.Configuration;
using LlmRouter.Common.Telemetry;
using LlmRouter.Node.Admission;
using LlmRouter.Node.Backends.Http;
using LlmRouter.Node.Backends.Simulated;
using Microsoft.Extensions.AI;
using OpenAI;

namespace LlmRouter.Node.Backends;

/// <summary>
/// Builds the chats of a backend: the official OpenAI SDK for OpenAI, our own wire client for
/// OpenAI-compatible servers (<see cref="OpenAICompatibleChat"/>), the official Anthropic SDK for Anthropic,
/// or the simulator; embeddings through the OpenAI SDK. SDK retries are
/// off: the router's own failover is the only retry loop (STYLE.md 10).
/// </summary>
internal sealed class BackendFactory(TimeProvider time, Func<string, string?> environment, Func<double> random) : IDisposable
{
    // Our first-token and stall watchdogs bound every request; the SDKs' own timeouts must not cut a long
    // stream short, so they are set well above any configurable bound.
    private static readonly TimeSpan SdkTimeout = TimeSpan.FromHours(2);

    private readonly HttpClient _http = new(
        new ProviderResponseObserver(new TraceContextHandler(TraceContextHandler.Disable(new SocketsHttpHandler
        {
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            ConnectTimeout = TimeSpan.FromSeconds(10),
            AutomaticDecompression = System.Net.DecompressionMethods.All,
            // A response given up before its end (the client left, a watchdog fired) closes its connection at
            // once: draining it for reuse would let the server generate on after the admission slot is freed.
            MaxResponseDrainSize = 0,
        }))))
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };

    /// <summary>Creates a backend, reusing the admission gate and statistics of the one it replaces.</summary>
    public Backend Create(BackendConfig config, Backend? previous)
    {
        var admission = previous?.Admission ?? new AdmissionGate(config.MaxConcurrency, config.MaxQueue, time);
        admission.Resize(config.MaxConcurrency, config.MaxQueue);
        var stats = previous?.Stats ?? new BackendStats();
        var simulation = config.Kind == BackendKind.Simulated ? previous?.Simulation ?? new SimulationCounters() : null;

        var chat = new Dictionary<string, IBackendChat>(StringComparer.Ordinal);
        var embeddings = new Dictionary<string, IEmbeddingGenerator<string, Embedding<float>>>(StringComparer.Ordinal);
        foreach (var model in config.Models)
        {
            if (model.Kind == ModelKindConfig.Chat)
            {
                chat[model.Id] = CreateChat(config, model, simulation);
            }
            else
            {
                embeddings[model.Id] = CreateEmbeddingGenerator(config, model);
            }
        }

        return new Backend(config, chat, embeddings, admission, stats, simulation);
    }

    /// <summary>Throws when a backend's API key variable is required but not set, naming both.</summary>
    public void CheckSecrets(NodeConfig node)
    {
        foreach (var backend in node.Backends)
        {
            if (backend.Kind is BackendKind.OpenAI or BackendKind.Anthropic
                && string.IsNullOrEmpty(environment(backend.ApiKeyVariable!)))
            {
                throw new InvalidOperationException(
                    $"backend '{backend.Id}' of node '{node.Id}' needs its API key in the environment variable {backend.ApiKeyVariable} (api_key_env), which is not set");
            }
        }
    }

    public void Dispose() => _http.Dispose();

    private IBackendChat CreateChat(BackendConfig config, ModelConfig model, SimulationCounters? simulation) => config.Kind switch
    {
        BackendKind.Simulated => new SdkBackendChat(new SimulatedChatClient(config.Simulated!, model.Id, time, random, simulation!), config, model),
        BackendKind.Anthropic => new SdkBackendChat(CreateAnthropic(config).AsIChatClient(model.UpstreamModel), config, model),
        BackendKind.OpenAI => new SdkBackendChat(CreateOpenAI(config).GetChatClient(model.UpstreamModel).AsIChatClient(), config, model),
        _ => new OpenAICompatibleChat(_http, config, model, ApiKey(config)),
    };

    private IEmbeddingGenerator<string, Embedding<float>> CreateEmbeddingGenerator(BackendConfig config, ModelConfig model) => config.Kind switch
    {
        BackendKind.Simulated => new SimulatedEmbeddingGenerator(config.Simulated!, model, time),
        BackendKind.Anthropic => throw new InvalidOperationException($"backend '{config.Id}': Anthropic has no embedding models"),
        _ => CreateOpenAI(config).GetEmbeddingClient(model.UpstreamModel).AsIEmbeddingGenerator(),
    };

    private OpenAIClient CreateOpenAI(BackendConfig config)
    {
        // Local servers (LM Studio, Ollama, vLLM, llama.cpp) usually take no key, but the SDK needs one.
        var key = ApiKey(config);
        var options = new OpenAIClientOptions
        {
            Endpoint = config.BaseUrl,
            RetryPolicy = new ClientRetryPolicy(maxRetries: 0),
            Transport = new HttpClientPipelineTransport(_http),
            NetworkTimeout = SdkTimeout,
        };
        return new OpenAIClient(new ApiKeyCredential(string.IsNullOrEmpty(key) ? "no-key" : key), options);
    }

    private string? ApiKey(BackendConfig config) => config.ApiKeyVariable is { } variable ? environment(variable) : null;

    private AnthropicClient CreateAnthropic(BackendConfig config) => new()
    {
        ApiKey = environment(config.ApiKeyVariable!) ?? "",
        BaseUrl = config.BaseUrl!.ToString(),
        MaxRetries = 0,
        Timeout = SdkTimeout,
        HttpClient = _http,
    };
}
