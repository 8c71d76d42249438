using LlmRouter.Common.Configuration;
using LlmRouter.Node.Backends.Http;
using LlmRouter.Node.Chat;
using LlmRouter.V1;
using Microsoft.Extensions.AI;

namespace LlmRouter.Node.Backends;

/// <summary>
/// A chat through a Microsoft.Extensions.AI client: the official OpenAI SDK (OpenAI), the official
/// Anthropic SDK (Anthropic) or the simulator. The request is translated to the client's terms, and for
/// OpenAI the parts Microsoft.Extensions.AI would rewrite go out verbatim (<see cref="OpenAIRequestOptions"/>).
/// </summary>
internal sealed class SdkBackendChat(IChatClient client, BackendConfig backend, ModelConfig model) : IBackendChat
{
    public IAsyncEnumerable<ChatResponseUpdate> StreamAsync(ChatRequest request, CancellationToken cancellationToken)
    {
        var messages = ChatConversion.Messages(request);
        var options = ChatConversion.Options(request, model.UpstreamModel);
        if (backend.Kind == BackendKind.OpenAI)
        {
            OpenAIRequestOptions.Apply(options, request, backend.MaxTokensField);
        }

        return client.GetStreamingResponseAsync(messages, options, cancellationToken);
    }
}
