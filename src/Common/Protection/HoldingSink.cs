using LlmRouter.Common.Chat;
using LlmRouter.V1;

namespace LlmRouter.Common.Protection;

/// <summary>Text that may hold back its end until the next piece settles it (<see cref="HoldingSink"/>).</summary>
internal interface IHeldText
{
    /// <summary>Characters held back now.</summary>
    int Pending { get; }

    /// <summary>The part of the text so far that can go out now.</summary>
    string Push(string delta);

    /// <summary>What is still held back, to go out now: the stream has ended.</summary>
    string Flush();
}

/// <summary>
/// An attempt's view of the client's stream through a filter that may hold text back (restoring placeholders,
/// screening an answer): text deltas, and each tool call's arguments when an <paramref name="arguments"/> filter is
/// given (else they pass as they are), go through it on their way to the client, and what is still held back goes out
/// before the completion. An attempt that fails takes what it held back with it: the client never had it, and a
/// continuation starts from what the client has. One per attempt.
/// </summary>
internal class HoldingSink(IChatSink inner, IHeldText text, Func<IHeldText>? arguments) : IChatSink
{
    private readonly IHeldText _text = text;
    private readonly Func<IHeldText>? _argumentsFilter = arguments;
    private readonly SortedDictionary<uint, IHeldText> _arguments = [];

    // A frame written without a flush is sent by the next write; when this sink then holds a whole frame back, it
    // still owes the client that flush.
    private bool _unflushed;

    public void Route(RouteInfo route) => inner.Route(route);

    public async Task DeltaAsync(ChatResponse frame, bool flush, CancellationToken cancellationToken)
    {
        if (frame.FrameCase == ChatResponse.FrameOneofCase.ToolCall && _text.Pending > 0)
        {
            // The text ended where the calls begin: what it held back goes out before them, in its place.
            await inner.DeltaAsync(new ChatResponse { Delta = new TextDelta { Text = _text.Flush() } }, flush: false, cancellationToken).ConfigureAwait(false);
        }

        var restored = frame.FrameCase == ChatResponse.FrameOneofCase.ToolCall ? ToolCall(frame.ToolCall) : Text(frame.Delta);
        if (restored is not null)
        {
            await inner.DeltaAsync(restored, flush, cancellationToken).ConfigureAwait(false);
            _unflushed = !flush;
        }
        else if (flush && _unflushed)
        {
            // An empty frame of the same kind (a tool call's keeps its index), so no client reads a break in the call.
            var empty = frame.FrameCase == ChatResponse.FrameOneofCase.ToolCall
                ? new ChatResponse { ToolCall = new ToolCallDelta { Index = frame.ToolCall.Index } }
                : new ChatResponse { Delta = new TextDelta() };
            await inner.DeltaAsync(empty, flush: true, cancellationToken).ConfigureAwait(false);
            _unflushed = false;
        }
    }

    public async Task CompletedAsync(ChatResponse frame, CancellationToken cancellationToken)
    {
        if (_text.Flush() is { Length: > 0 } text)
        {
            await inner.DeltaAsync(new ChatResponse { Delta = new TextDelta { Text = text } }, flush: false, cancellationToken).ConfigureAwait(false);
        }

        foreach (var (index, restorer) in _arguments)
        {
            if (restorer.Flush() is { Length: > 0 } arguments)
            {
                await inner.DeltaAsync(new ChatResponse { ToolCall = new ToolCallDelta { Index = index, Arguments = arguments } }, flush: false, cancellationToken)
                    .ConfigureAwait(false);
            }
        }

        await inner.CompletedAsync(frame, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The delta as the client may read it now; null when all of it is held back.</summary>
    private ChatResponse? Text(TextDelta delta)
    {
        var text = _text.Push(delta.Text);
        return text.Length == 0 && delta.Text.Length > 0 ? null
            : ReferenceEquals(text, delta.Text) ? new ChatResponse { Delta = delta }
            : new ChatResponse { Delta = new TextDelta { Text = text } };
    }

    /// <summary>The tool call delta with its arguments filtered so far; null when it carries nothing else and all of them are held back.</summary>
    private ChatResponse? ToolCall(ToolCallDelta delta)
    {
        if (_argumentsFilter is null)
        {
            return new ChatResponse { ToolCall = delta };
        }

        if (!_arguments.TryGetValue(delta.Index, out var restorer))
        {
            _arguments[delta.Index] = restorer = _argumentsFilter();
        }

        var arguments = restorer.Push(delta.Arguments);
        if (arguments.Length == 0 && delta.Id.Length == 0 && delta.Name.Length == 0)
        {
            return null;
        }

        var restored = delta.Clone();
        restored.Arguments = arguments;
        return new ChatResponse { ToolCall = restored };
    }
}
