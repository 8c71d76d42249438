using LlmRouter.V1;

namespace LlmRouter.Node.Chat;

/// <summary>Where an attempt writes its answer: the client's stream, or a racer's slot in a broadcast.</summary>
internal interface IChatSink
{
    /// <summary>Names the route of the attempt; it goes out with the first token.</summary>
    void Route(RouteInfo route);

    Task DeltaAsync(ChatResponse frame, CancellationToken cancellationToken);

    Task CompletedAsync(ChatResponse frame, CancellationToken cancellationToken);
}
