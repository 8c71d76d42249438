using Grpc.Core;
using LlmRouter.Common.Configuration;
using LlmRouter.Common.Protocol;
using LlmRouter.Node.Backends;
using LlmRouter.Node.Backends.Http;
using LlmRouter.Node.Catalog;
using LlmRouter.Node.Chat;
using LlmRouter.Node.Hosting;
using LlmRouter.Node.Routing;
using LlmRouter.V1;
using Microsoft.Extensions.AI;

namespace LlmRouter.Node.Embeddings;

/// <summary>Serves Embed on the best local embedding model, under the same admission and drain rules as chat.</summary>
internal sealed class EmbedHandler(NodeCatalog catalog, RouteRanker router, DrainState drain)
{
    public async Task<EmbedResponse> EmbedAsync(EmbedRequest request, ServerCallContext context)
    {
        var snapshot = catalog.Current;
        using var open = drain.Enter(snapshot.Node.Id);
        RequestValidator.Validate(request);
        // Embeddings are served by this node's own models for now; forwarding them comes with issue 4's router.
        var target = router.Rank(snapshot, RouteQuery.For(request), localOnly: true)[0].Target.Local!.Value;
        var backend = target.Backend;
        var refusal = ProviderResponseObserver.BeginScope();
        using var lifetime = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, drain.StreamsAborted);
        try
        {
            using var slot = await backend.Admission.EnterAsync(lifetime.Token).ConfigureAwait(false);
            var options = new EmbeddingGenerationOptions
            {
                ModelId = target.Model.UpstreamModel,
                Dimensions = request.Dimensions > 0 ? (int)request.Dimensions : null,
            };
            var generated = await backend.EmbeddingGenerator(target.Model)
                .GenerateAsync(request.Inputs, options, lifetime.Token).ConfigureAwait(false);
            if (generated.Count != request.Inputs.Count)
            {
                throw new InvalidDataException($"{generated.Count} vectors for {request.Inputs.Count} inputs");
            }

            return Response(generated, snapshot, target, context);
        }
        catch (OperationCanceledException) when (context.CancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex)
        {
            throw BackendErrors.ToRpcException(ex, backend.Id, refusal.Value);
        }
    }

    private static EmbedResponse Response(GeneratedEmbeddings<Embedding<float>> generated, CatalogSnapshot snapshot, LocalModel target, ServerCallContext context)
    {
        var response = new EmbedResponse
        {
            Route = new RouteInfo
            {
                RequestId = RequestIds.From(context.RequestHeaders),
                ServingNode = snapshot.Node.Id,
                Backend = target.Backend.Id,
                Model = target.Model.Id,
                BackendKind = BackendKindNames.Name(target.Backend.Config.Kind),
                Attempt = 1,
            },
            Usage = new TokenUsage
            {
                InputTokens = (ulong)Math.Max(0, generated.Usage?.InputTokenCount ?? 0),
                TotalTokens = (ulong)Math.Max(0, generated.Usage?.TotalTokenCount ?? generated.Usage?.InputTokenCount ?? 0),
            },
        };
        response.Route.Path.Add(new Hop { Node = snapshot.Node.Id, Pool = snapshot.Node.Pool });
        foreach (var embedding in generated)
        {
            var vector = new V1.Embedding();
            vector.Values.AddRange(embedding.Vector.ToArray());
            response.Embeddings.Add(vector);
        }

        return response;
    }
}
