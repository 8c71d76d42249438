namespace LlmRouter.Node.Backends.Http;

/// <summary>
/// A backend's refusal or error as it sent it: the HTTP status of a refused request (null for an error
/// reported inside a stream that had begun) and the provider's own message. <see cref="BackendErrors"/>
/// maps it to a gRPC status.
/// </summary>
internal sealed class BackendReplyException(int? status, string message) : Exception(message)
{
    public int? Status { get; } = status;
}
