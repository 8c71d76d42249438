using LlmRouter.V1;
using Microsoft.Extensions.AI;

namespace LlmRouter.Node.Backends;

/// <summary>
/// One model's chat on one backend, as <see cref="Chat.LocalChatExecutor"/> relays it: the Router API's
/// request in, Microsoft.Extensions.AI updates out, each yielded the moment the backend sends it. Text is
/// <see cref="TextContent"/>, tool calls are provider chunks or <see cref="Chat.ToolCallChunk"/>s (read by
/// <see cref="Chat.ToolCallDeltas"/>), usage is <see cref="UsageContent"/>.
/// </summary>
internal interface IBackendChat
{
    IAsyncEnumerable<ChatResponseUpdate> StreamAsync(ChatRequest request, CancellationToken cancellationToken);
}
