using Grpc.Core;
using LlmRouter.Common.Configuration;
using LlmRouter.Node.Catalog;
using LlmRouter.Node.Chat;
using LlmRouter.Node.Embeddings;
using LlmRouter.V1;

namespace LlmRouter.Node.Services;

/// <summary>
/// The public Router API (llmrouter.v1.Router). Thin: each method hands the call to its domain type. Bound
/// by <see cref="Common.Grpc.StrictServiceMethodProvider{TService}"/>, so it declares the generated methods
/// itself instead of overriding Router.RouterBase.
/// </summary>
internal sealed class RouterService(ChatCoordinator chat, EmbedHandler embed, NodeCatalog catalog)
{
    public Task Chat(ChatRequest request, IServerStreamWriter<ChatResponse> responseStream, ServerCallContext context) =>
        chat.ChatAsync(request, responseStream, context);

    public Task<EmbedResponse> Embed(EmbedRequest request, ServerCallContext context) =>
        embed.EmbedAsync(request, context);

    public Task<ListModelsResponse> ListModels(ListModelsRequest request, ServerCallContext context)
    {
        if (!Enum.IsDefined(request.Kind))
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument,
                $"kind: unknown model kind {(int)request.Kind} (use MODEL_KIND_CHAT, MODEL_KIND_EMBEDDING or leave it unset)"));
        }

        var snapshot = catalog.Current;
        var response = new ListModelsResponse();
        foreach (var (backend, model) in snapshot.Models)
        {
            var kind = model.Kind == ModelKindConfig.Chat ? ModelKind.Chat : ModelKind.Embedding;
            if (request.Kind != ModelKind.Unspecified && request.Kind != kind)
            {
                continue;
            }

            var info = new ModelInfo
            {
                Id = model.Id,
                Kind = kind,
                Node = snapshot.Node.Id,
                Pool = snapshot.Node.Pool,
                Backend = backend.Id,
                BackendKind = BackendKindNames.Name(backend.Config.Kind),
                Cloud = backend.Config.IsCloud,
                Quality = model.Quality,
                ContextTokens = (uint)model.ContextTokens,
                Price = new Price { InputPerMillion = model.InputPricePerMillion, OutputPerMillion = model.OutputPricePerMillion },
            };
            info.Aliases.AddRange(model.Aliases);
            info.Features.AddRange(model.Features);
            response.Models.Add(info);
        }

        return Task.FromResult(response);
    }
}
