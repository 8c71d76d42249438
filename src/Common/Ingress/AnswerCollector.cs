using System.Text;
using Grpc.Core;
using LlmRouter.V1;

namespace LlmRouter.Common.Ingress;

/// <summary>
/// Gathers a whole answer from the pipeline's frames, for a client that did not ask for a stream: the
/// route, the text, each tool call assembled from its deltas, and the closing frame.
/// </summary>
internal sealed class AnswerCollector : IServerStreamWriter<ChatResponse>, Chat.IBufferedAnswer
{
    private readonly StringBuilder _text = new();
    private readonly SortedDictionary<uint, (string Id, string Name, StringBuilder Arguments)> _calls = [];

    public WriteOptions? WriteOptions { get; set; }

    public RouteInfo? Route { get; private set; }

    public ChatCompleted? Completed { get; private set; }

    public string Text => _text.ToString();

    /// <summary>The tool calls, in order: id, name and the arguments' whole JSON text.</summary>
    public IEnumerable<(string Id, string Name, string Arguments)> ToolCalls =>
        _calls.Values.Select(call => (call.Id, call.Name, call.Arguments.ToString()));

    public Task WriteAsync(ChatResponse message) => WriteAsync(message, CancellationToken.None);

    public Task WriteAsync(ChatResponse message, CancellationToken cancellationToken)
    {
        switch (message.FrameCase)
        {
            case ChatResponse.FrameOneofCase.Route:
                Route = message.Route;
                break;
            case ChatResponse.FrameOneofCase.Delta:
                _text.Append(message.Delta.Text);
                break;
            case ChatResponse.FrameOneofCase.ToolCall:
                var delta = message.ToolCall;
                if (!_calls.TryGetValue(delta.Index, out var call))
                {
                    call = (delta.Id, delta.Name, new StringBuilder());
                    _calls[delta.Index] = call;
                }

                call.Arguments.Append(delta.Arguments);
                break;
            case ChatResponse.FrameOneofCase.Completed:
                Completed = message.Completed;
                break;
        }

        return Task.CompletedTask;
    }
}
