using Grpc.Core;
using LlmRouter.V1;

namespace LlmRouter.Common.Ingress;

/// <summary>A streamed answer in one provider's SSE shape: an error after it began can only be that provider's error event.</summary>
internal interface IIngressStream : IServerStreamWriter<ChatResponse>
{
    /// <summary>Ends the stream with the provider's error event.</summary>
    /// <param name="param">The field at fault, for a provider whose errors name one.</param>
    Task FailAsync(int status, string message, string? param, CancellationToken cancellationToken);
}
