using Grpc.Core;
using LlmRouter.Common.Protocol;
using LlmRouter.Common.Gossip;
using LlmRouter.Integrator.Border;
using LlmRouter.Integrator.Relay;
using LlmRouter.V1;

namespace LlmRouter.Integrator.Services;

/// <summary>
/// The Router API as an integrator serves it: Chat and Embed carried across a border for members of its
/// pools (nodes forward here when a route wins), and ListModels listing what lies behind its borders.
/// Bound by the strict method provider, like the node's.
/// </summary>
internal sealed class IntegratorRouterService(ChatRelay chat, EmbedRelay embed, BorderPools pools, Hosting.IntegratorLaunch launch)
{
    public Task Chat(ChatRequest request, IServerStreamWriter<ChatResponse> responseStream, ServerCallContext context) =>
        chat.ChatAsync(request, responseStream, context);

    public Task<EmbedResponse> Embed(EmbedRequest request, ServerCallContext context) =>
        embed.EmbedAsync(request, context);

    /// <summary>Every model this integrator can carry requests to, as its nodes describe them.</summary>
    public Task<ListModelsResponse> ListModels(ListModelsRequest request, ServerCallContext context)
    {
        ModelKinds.EnsureKnown(request.Kind);

        var response = new ListModelsResponse();
        var seen = new HashSet<(string, string, string)>();
        foreach (var pool in pools.All)
        {
            foreach (var member in pool.Members().Where(m => !m.IsSelf && m.Status == MemberStatus.Alive))
            {
                var models = (member.Models?.Models ?? []).Concat((member.Routes?.Routes ?? []).Select(r => r.Model));
                foreach (var model in models)
                {
                    if (ModelKinds.Matches(request.Kind, model)
                        && BorderRoutes.Exported(model, launch.Config.Export)
                        && seen.Add((model.Id, model.Node, model.Backend)))
                    {
                        response.Models.Add(model);
                    }
                }
            }
        }

        return Task.FromResult(response);
    }
}
