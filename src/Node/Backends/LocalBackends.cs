using LlmRouter.Common.Chat;
using LlmRouter.Common.Pipeline;
using LlmRouter.Common.Routing;
using LlmRouter.Node.Catalog;
using LlmRouter.Node.Chat;
using LlmRouter.Node.Embeddings;
using LlmRouter.V1;

namespace LlmRouter.Node.Backends;

/// <summary>The node's own backends as the request pipeline serves on them: chats and embeddings on the candidate's local model.</summary>
internal sealed class LocalBackends(LocalChatExecutor chat, LocalEmbedder embedder) : ILocalExecutor
{
    public Task ChatAsync(ChatRequest request, RouteCandidate target, RouteInfo route, IChatSink sink, long receivedAt, CancellationToken cancellationToken) =>
        chat.ServeAsync(request, Model(target), route, sink, receivedAt, cancellationToken);

    public Task<EmbedResponse> EmbedAsync(EmbedRequest request, RouteCandidate target, RouteInfo route, CancellationToken cancellationToken) =>
        embedder.EmbedAsync(request, Model(target), route, cancellationToken);

    private static LocalModel Model(RouteCandidate target) =>
        target.Local as LocalModel ?? throw new InvalidOperationException($"{target.Key} is not a model of this node's backends");
}
