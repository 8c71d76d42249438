using Grpc.Core;
using LlmRouter.Common.Configuration;
using LlmRouter.Common.Protocol;
using LlmRouter.Node.Backends;
using LlmRouter.Node.Backends.Http;
using LlmRouter.Node.Catalog;
using LlmRouter.Node.Chat;
using LlmRouter.Node.Forwarding;
using LlmRouter.Node.Hosting;
using LlmRouter.Node.Routing;
using LlmRouter.V1;
using Microsoft.Extensions.AI;

namespace LlmRouter.Node.Embeddings;

/// <summary>Serves Embed on the best local embedding model, under the same admission and drain rules as chat.</summary>
internal sealed class EmbedHandler(NodeCatalog catalog, RouteRanker router, PeerClients peers, DrainState drain)
{
    public async Task<EmbedResponse> EmbedAsync(EmbedRequest request, ServerCallContext context)
    {
        var snapshot = catalog.Current;
        using var open = drain.Enter(snapshot.Node.Id);
        RequestValidator.Validate(request);
        var path = ForwardingPath.Read(context.RequestHeaders);
        ForwardingPath.EnsureAllowed(path, snapshot.Node.Id);

        var chosen = router.Rank(snapshot, RouteQuery.For(request), localOnly: path.Count > 0)[0].Target;
        if (chosen.Local is not { } target)
        {
            return await ForwardAsync(request, chosen, snapshot, path, context).ConfigureAwait(false);
        }

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

    /// <summary>Sends the request on to the member that has the model, with the path and the remaining deadline.</summary>
    private async Task<EmbedResponse> ForwardAsync(EmbedRequest request, RouteCandidate target, CatalogSnapshot snapshot, IReadOnlyList<string> path, ServerCallContext context)
    {
        var forwarded = request.Clone();
        forwarded.Model = target.Model;
        var headers = ForwardingPath.Headers(RequestIds.From(context.RequestHeaders), path, snapshot.Node.Id);
        var response = await peers.For(target.Address)
            .EmbedAsync(forwarded, headers, ForwardingPath.NextDeadline(context.Deadline), context.CancellationToken).ConfigureAwait(false);
        response.Route.Path.Insert(0, new Hop { Node = snapshot.Node.Id, Pool = snapshot.Node.Pool });
        return response;
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
