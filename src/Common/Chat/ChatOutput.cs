using Grpc.Core;
using LlmRouter.Common.Grpc;
using LlmRouter.V1;

namespace LlmRouter.Common.Chat;

/// <summary>
/// The client's stream, with the route frame held back until the first token (or the completion): a
/// failover before the first token then shows the client one route, the one that answers.
/// </summary>
/// <param name="time">Reads when the first frame went out (null: not read).</param>
internal sealed class ChatOutput(IServerStreamWriter<ChatResponse> stream, bool keepText, TimeProvider? time = null) : IChatSink
{
    private readonly System.Text.StringBuilder? _text = keepText ? new() : null;
    private RouteInfo? _route;
    private string? _seamReason;

    /// <summary>Whether the route frame has gone out: from then on the answer is committed to that route.</summary>
    public bool Committed { get; private set; }

    /// <summary>When the first frame (the route with the first token) went out, as the time provider's timestamp; 0 before.</summary>
    public long CommittedAt { get; private set; }

    /// <summary>Characters of answer text the client has received.</summary>
    public long DeliveredCharacters { get; private set; }

    /// <summary>True once a tool call delta has gone out: from then on the answer is never continued by another model.</summary>
    public bool ToolCallBegun { get; private set; }

    /// <summary>Whether the client has received any part of the answer (text or a tool call): a failure now leaves it partial.</summary>
    public bool Delivered => DeliveredCharacters > 0 || ToolCallBegun;

    /// <summary>The text the client has received (kept only when the request allows continuation).</summary>
    public string DeliveredText => _text?.ToString() ?? "";

    /// <summary>True once another candidate continued the answer after a seam.</summary>
    public bool Continued { get; private set; }

    /// <summary>The route whose text the client is receiving (the last route or seam frame sent); null before the first.</summary>
    public RouteInfo? CommittedRoute { get; private set; }

    /// <summary>A seam has begun and its frame has not gone out yet (no continuation has delivered a token).</summary>
    public bool SeamPending => _seamReason is not null;

    /// <summary>Names the route of the current attempt; sent with its first token (or in the seam frame).</summary>
    public void Route(RouteInfo route)
    {
        if (!Committed || _seamReason is not null)
        {
            _route = route;
        }
    }

    /// <summary>
    /// The committed route failed after its first token and another candidate will continue: its route goes
    /// out in a seam frame, just before its first token, at the offset the client has reached.
    /// </summary>
    public void BeginSeam(string reason)
    {
        CharactersBeforeSeam = DeliveredCharacters;
        _seamReason = reason;
        _route = null;
    }

    public async Task DeltaAsync(ChatResponse frame, bool flush, CancellationToken cancellationToken)
    {
        await CommitAsync(cancellationToken).ConfigureAwait(false);
        await stream.WriteAsync(frame, flush, cancellationToken).ConfigureAwait(false);
        if (frame.FrameCase == ChatResponse.FrameOneofCase.ToolCall)
        {
            ToolCallBegun = true;
            return;
        }

        DeliveredCharacters += frame.Delta.Text.Length;
        _text?.Append(frame.Delta.Text);
    }

    /// <summary>Characters the client had when the last continuation began: text the continuing attempt's usage does not count.</summary>
    public long CharactersBeforeSeam { get; private set; }

    /// <summary>The candidate of the attempt the client is reading (its price is what the usage cost).</summary>
    public Routing.RouteCandidate? Served { get; set; }

    /// <summary>The usage the answer's completion frame reported (what quotas count at the entry hop).</summary>
    public TokenUsage? Usage { get; private set; }

    /// <summary>
    /// True once the answer's final frame is being written to the client: it has, or is reading, all it asked for.
    /// Set before the write returns, since a client that cancels as soon as it has read the frame (gRPC Python does)
    /// can cancel before this hop's write has returned. Never true for a stream that keeps the answer until the
    /// pipeline returns (<see cref="IBufferedAnswer"/>): its client has nothing yet.
    /// </summary>
    public bool Finished { get; private set; }

    public async Task CompletedAsync(ChatResponse frame, CancellationToken cancellationToken)
    {
        await CommitAsync(cancellationToken).ConfigureAwait(false);
        Usage = frame.Completed.Usage;
        frame.Completed.Continued |= Continued;
        Finished = stream is not IBufferedAnswer;
        await stream.WriteAsync(frame, cancellationToken).ConfigureAwait(false);
    }

    private async Task CommitAsync(CancellationToken cancellationToken)
    {
        var route = _route ?? throw new InvalidOperationException("no route named before the first frame");
        if (!Committed)
        {
            Committed = true;
            CommittedAt = time?.GetTimestamp() ?? 0;
            CommittedRoute = route;
            // The route (or seam) frame always has the token after it: one flush carries both.
            await stream.WriteAsync(new ChatResponse { Route = route }, flush: false, cancellationToken).ConfigureAwait(false);
        }
        else if (_seamReason is { } reason)
        {
            _seamReason = null;
            Continued = true;
            CommittedRoute = route;
            await stream.WriteAsync(new ChatResponse { Seam = new Seam { Offset = (ulong)DeliveredCharacters, Reason = reason, Route = route } }, flush: false, cancellationToken)
                .ConfigureAwait(false);
        }
    }
}
