using Grpc.Core;
using LlmRouter.Common.Pipeline;
using LlmRouter.Common.Protocol;
using LlmRouter.V1;

namespace LlmRouter.Common.Services;

/// <summary>
/// The Router API (llmrouter.v1.Router) of every node and integrator. Thin: each method hands the call to
/// the one pipeline. Bound by <see cref="Grpc.StrictServiceMethodProvider{TService}"/>, so it declares the
/// generated methods itself instead of overriding Router.RouterBase.
/// </summary>
internal sealed class RouterService(ChatPipeline chat, EmbedPipeline embed, Arrivals arrivals, IRouterHost host)
{
    public Task Chat(ChatRequest request, IServerStreamWriter<ChatResponse> responseStream, ServerCallContext context) =>
        chat.ChatAsync(request, responseStream, context);

    public Task<EmbedResponse> Embed(EmbedRequest request, ServerCallContext context) =>
        embed.EmbedAsync(request, context);

    /// <summary>What the host serves (a node) or carries (an integrator) for a caller on this listener.</summary>
    /// <remarks>Only the models the caller's tenant may use are listed.</remarks>
    public async Task<ListModelsResponse> ListModels(ListModelsRequest request, ServerCallContext context)
    {
        var arrival = await arrivals.RouterAsync(context, host.Current.Mesh).ConfigureAwait(false);
        ModelKinds.EnsureKnown(request.Kind);

        var response = new ListModelsResponse();
        response.Models.AddRange(host.Models(arrival.Seat).Where(m => ModelKinds.Matches(request.Kind, m) && Access.TenantPermits.Lists(arrival.Tenant, m)));
        return response;
    }
}
