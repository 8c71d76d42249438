using LlmRouter.Common.Configuration;
using LlmRouter.Node.Admission;
using LlmRouter.Node.Backends.Simulated;
using Microsoft.Extensions.AI;

namespace LlmRouter.Node.Backends;

/// <summary>
/// One backend as the node runs it: its configuration, a chat per model, its
/// admission gate and its statistics. The gate and statistics outlive configuration reloads (they are
/// handed to the replacement), so open streams and counters are never lost. A replaced backend is not
/// disposed: streams still running on it finish on the clients they started with.
/// </summary>
internal sealed class Backend(
    BackendConfig config,
    IReadOnlyDictionary<string, IBackendChat> chats,
    IReadOnlyDictionary<string, IEmbeddingGenerator<string, Embedding<float>>> embeddingGenerators,
    AdmissionGate admission,
    BackendStats stats,
    SimulationCounters? simulation)
{
    public BackendConfig Config { get; } = config;

    public string Id => Config.Id;

    public AdmissionGate Admission { get; } = admission;

    public BackendStats Stats { get; } = stats;

    /// <summary>Generation counters, for simulated backends only.</summary>
    public SimulationCounters? Simulation { get; } = simulation;

    public IBackendChat Chat(ModelConfig model) => chats[model.Id];

    public IEmbeddingGenerator<string, Embedding<float>> EmbeddingGenerator(ModelConfig model) => embeddingGenerators[model.Id];
}
