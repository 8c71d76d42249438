using Microsoft.Extensions.AI;

namespace LlmRouter.Node.Chat;

/// <summary>
/// A piece of a tool call as a backend streams it. Microsoft.Extensions.AI has no such content (its
/// clients gather a call's arguments and yield the whole call at the end), so a backend that streams calls
/// itself, the simulator, yields these; <see cref="ToolCallDeltas"/> reads them like the providers' raw chunks.
/// </summary>
/// <param name="Index">Position of the call in the answer, from 0.</param>
/// <param name="CallId">The call's id, on its first chunk only.</param>
/// <param name="Name">The tool's name, on its first chunk only.</param>
/// <param name="Arguments">The next piece of the arguments' JSON text.</param>
internal sealed class ToolCallChunk(int index, string? callId, string? name, string arguments) : AIContent
{
    public int Index { get; } = index;

    public string? CallId { get; } = callId;

    public string? Name { get; } = name;

    public string Arguments { get; } = arguments;
}
