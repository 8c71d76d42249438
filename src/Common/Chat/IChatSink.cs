using LlmRouter.V1;

namespace LlmRouter.Common.Chat;

/// <summary>Where an attempt writes its answer: the client's stream, or a racer's slot in a broadcast.</summary>
internal interface IChatSink
{
    /// <summary>Names the route of the attempt; it goes out with the first token.</summary>
    void Route(RouteInfo route);

    /// <summary>Writes a text or tool call delta (a <see cref="ChatResponse"/> whose frame is <c>delta</c> or <c>tool_call</c>).</summary>
    /// <param name="flush">False when the next frame has already arrived and is written right after this one.</param>
    Task DeltaAsync(ChatResponse frame, bool flush, CancellationToken cancellationToken);

    Task CompletedAsync(ChatResponse frame, CancellationToken cancellationToken);
}
