using Grpc.Core;
using LlmRouter.Common.Protocol;
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
        ModelKinds.EnsureKnown(request.Kind);

        var response = new ListModelsResponse();
        response.Models.AddRange(ModelInfos.Of(catalog.Current).Where(m => ModelKinds.Matches(request.Kind, m)));
        return Task.FromResult(response);
    }
}
