using Grpc.Core;
using LlmRouter.Common.Configuration;
using LlmRouter.Common.Telemetry;
using LlmRouter.Node.Admission;
using LlmRouter.Node.Backends;
using LlmRouter.Node.Backends.Http;
using LlmRouter.Node.Catalog;
using LlmRouter.V1;
using Microsoft.Extensions.AI;

namespace LlmRouter.Node.Embeddings;

/// <summary>Embeds on one local embedding model, under the same admission (and drain, through the caller's token) as chat.</summary>
internal sealed class LocalEmbedder(TimeProvider time, BackendMetrics metrics)
{
    public async Task<EmbedResponse> EmbedAsync(EmbedRequest request, LocalModel target, RouteInfo route, CancellationToken cancellationToken)
    {
        var backend = target.Backend;
        var refusal = ProviderResponseObserver.BeginScope();
        var call = new BackendCall("embeddings", BackendKindNames.Name(backend.Config.Kind), target.Model.Id, backend.Id);
        long calledAt = 0;
        try
        {
            using var slot = await backend.Admission.EnterAsync(cancellationToken).ConfigureAwait(false);
            calledAt = time.GetTimestamp();
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

            var response = Response(generated, route);
            var input = (long)response.Usage.InputTokens;
            metrics.Served(call, time.GetElapsedTime(calledAt), null, TimeSpan.Zero, input, 0, input * target.Model.InputPricePerMillion / 1_000_000);
            return response;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex) when (ex is not RpcException)
        {
            var error = BackendErrors.ToRpcException(ex, backend.Id, refusal.Value);
            if (ex is AdmissionRejectedException)
            {
                metrics.AdmissionRefused(backend.Id);
            }
            else if (calledAt != 0)
            {
                metrics.Failed(call, time.GetElapsedTime(calledAt), error.StatusCode);
            }

            throw error;
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
