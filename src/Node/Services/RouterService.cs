using Grpc.Core;
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

        var response = new ListModelsResponse();
        response.Models.AddRange(ModelInfos.Of(catalog.Current).Where(m => request.Kind == ModelKind.Unspecified || m.Kind == request.Kind));
        return Task.FromResult(response);
    }
}
