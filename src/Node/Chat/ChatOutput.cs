using Grpc.Core;
using LlmRouter.V1;

namespace LlmRouter.Node.Chat;

/// <summary>
/// The client's stream, with the route frame held back until the first token (or the completion): a
/// failover before the first token then shows the client one route, the one that answers.
/// </summary>
internal sealed class ChatOutput(IServerStreamWriter<ChatResponse> stream)
{
    private RouteInfo? _route;

    /// <summary>Whether the route frame has gone out: from then on the answer is committed to that route.</summary>
    public bool Committed { get; private set; }

    /// <summary>Characters of answer text the client has received.</summary>
    public long DeliveredCharacters { get; private set; }

    /// <summary>Names the route of the current attempt; sent with its first token.</summary>
    public void Route(RouteInfo route)
    {
        if (!Committed)
        {
            _route = route;
        }
    }

    public async Task DeltaAsync(ChatResponse frame, CancellationToken cancellationToken)
    {
        await CommitAsync(cancellationToken).ConfigureAwait(false);
        await stream.WriteAsync(frame, cancellationToken).ConfigureAwait(false);
        DeliveredCharacters += frame.Delta.Text.Length;
    }

    public async Task CompletedAsync(ChatResponse frame, CancellationToken cancellationToken)
    {
        await CommitAsync(cancellationToken).ConfigureAwait(false);
        await stream.WriteAsync(frame, cancellationToken).ConfigureAwait(false);
    }

    private async Task CommitAsync(CancellationToken cancellationToken)
    {
        if (!Committed)
        {
            Committed = true;
            await stream.WriteAsync(new ChatResponse { Route = _route ?? throw new InvalidOperationException("no route named before the first frame") }, cancellationToken)
                .ConfigureAwait(false);
        }
    }
}
