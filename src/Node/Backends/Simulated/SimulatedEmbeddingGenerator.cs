using LlmRouter.Common.Configuration;
using Microsoft.Extensions.AI;

namespace LlmRouter.Node.Backends.Simulated;

/// <summary>Deterministic unit vectors: equal texts get equal vectors, so retrieval tests are exact.</summary>
internal sealed class SimulatedEmbeddingGenerator(SimulatedBackendConfig config, ModelConfig model, TimeProvider time)
    : IEmbeddingGenerator<string, Embedding<float>>
{
    public async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(
        IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        await Task.Delay(config.TimeToFirstToken, time, cancellationToken).ConfigureAwait(false);
        var dimensions = options?.Dimensions is int requested && requested > 0 && requested < model.EmbeddingDimensions
            ? requested
            : model.EmbeddingDimensions;
        var embeddings = new GeneratedEmbeddings<Embedding<float>>();
        var tokens = 0;
        foreach (var text in values)
        {
            embeddings.Add(new Embedding<float>(Vector(text, dimensions)) { ModelId = model.Id });
            tokens += SimulatedText.CountTokens(text);
        }

        embeddings.Usage = new UsageDetails { InputTokenCount = tokens, TotalTokenCount = tokens };
        return embeddings;
    }

    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is null && serviceType.IsInstanceOfType(this) ? this : null;

    public void Dispose()
    {
    }

    private float[] Vector(string text, int dimensions)
    {
        var seed = SimulatedText.Hash(SimulatedText.Hash(0, model.Id), text);
        var vector = new float[dimensions];
        double norm = 0;
        for (var i = 0; i < dimensions; i++)
        {
            var value = (SimulatedText.Mix(seed + (ulong)i) % 20001 / 10000.0) - 1.0;
            vector[i] = (float)value;
            norm += value * value;
        }

        var scale = norm > 0 ? (float)(1 / Math.Sqrt(norm)) : 0f;
        for (var i = 0; i < dimensions; i++)
        {
            vector[i] *= scale;
        }

        return vector;
    }
}
