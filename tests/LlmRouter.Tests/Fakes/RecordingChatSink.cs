using System.Text;
using LlmRouter.Common.Chat;
using LlmRouter.V1;

namespace LlmRouter.Tests.Fakes;

/// <summary>A client's side of an attempt's sink: every frame written to it, and whether the last was flushed.</summary>
internal sealed class RecordingChatSink : IChatSink
{
    public List<ChatResponse> Frames { get; } = [];

    /// <summary>Whether the last frame written was flushed.</summary>
    public bool Flushed { get; private set; }

    public string Text => string.Concat(Frames.Where(f => f.FrameCase == ChatResponse.FrameOneofCase.Delta).Select(f => f.Delta.Text));

    public string Arguments(uint index) =>
        Frames.Where(f => f.FrameCase == ChatResponse.FrameOneofCase.ToolCall && f.ToolCall.Index == index)
            .Aggregate(new StringBuilder(), (text, f) => text.Append(f.ToolCall.Arguments)).ToString();

    public void Route(RouteInfo route)
    {
    }

    public Task DeltaAsync(ChatResponse frame, bool flush, CancellationToken cancellationToken)
    {
        Frames.Add(frame);
        Flushed = flush;
        return Task.CompletedTask;
    }

    public Task CompletedAsync(ChatResponse frame, CancellationToken cancellationToken)
    {
        Frames.Add(frame);
        Flushed = true;
        return Task.CompletedTask;
    }
}
