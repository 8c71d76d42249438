using Grpc.Core;
using LlmRouter.Node.Backends;
using LlmRouter.Node.Backends.Http;
using LlmRouter.Node.Catalog;
using LlmRouter.V1;
using Microsoft.Extensions.AI;

namespace LlmRouter.Node.Embeddings;

/// <summary>Embeds on one local embedding model, under the same admission (and drain, through the caller's token) as chat.</summary>
internal sealed class LocalEmbedder
{
    public async Task<EmbedResponse> EmbedAsync(EmbedRequest request, LocalModel target, RouteInfo route, CancellationToken cancellationToken)
    {
        var backend = target.Backend;
        var refusal = ProviderResponseObserver.BeginScope();
        try
        {
            using var slot = await backend.Admission.EnterAsync(cancellationToken).ConfigureAwait(false);
            var options = new EmbeddingGenerationOptions
            {
                ModelId = target.Model.UpstreamModel,
                Dimensions = request.Dimensions > 0 ? (int)request.Dimensions : null,
            };
            var generated = await backend.EmbeddingGenerator(target.Model)
                .GenerateAsync(request.Inputs, options, cancellationToken).ConfigureAwait(false);
            if (generated.Count != request.Inputs.Count)
            {
                throw new InvalidDataException($"{generated.Count} vectors for {request.Inputs.Count} inputs");
            }

            return Response(generated, route);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex) when (ex is not RpcException)
        {
            throw BackendErrors.ToRpcException(ex, backend.Id, refusal.Value);
        }
    }

    private static EmbedResponse Response(GeneratedEmbeddings<Embedding<float>> generated, RouteInfo route)
    {
        var response = new EmbedResponse
        {
            Route = route,
            Usage = new TokenUsage
            {
                InputTokens = (ulong)Math.Max(0, generated.Usage?.InputTokenCount ?? 0),
                TotalTokens = (ulong)Math.Max(0, generated.Usage?.TotalTokenCount ?? generated.Usage?.InputTokenCount ?? 0),
            },
        };
        foreach (var embedding in generated)
        {
            var vector = new V1.Embedding();
            vector.Values.AddRange(embedding.Vector.ToArray());
            response.Embeddings.Add(vector);
        }

        return response;
    }
}
