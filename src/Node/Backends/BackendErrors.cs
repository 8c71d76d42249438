using System.ClientModel;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Anthropic.Exceptions;
using Grpc.Core;
using LlmRouter.Common.Protocol;
using LlmRouter.Node.Admission;
using LlmRouter.Node.Backends.Http;
using LlmRouter.Node.Backends.Simulated;

namespace LlmRouter.Node.Backends;

/// <summary>
/// Maps whatever a backend call threw to the gRPC status a client can act on (issue 2, DESIGN.md 7):
/// 429 becomes RESOURCE_EXHAUSTED with <c>grpc-retry-pushback-ms</c>; 5xx, refused connections, malformed
/// streams and stalls become UNAVAILABLE; a 400 becomes INVALID_ARGUMENT with the provider's own message.
/// Every message names the backend, so an operator knows where to look.
/// </summary>
internal static class BackendErrors
{
    private static readonly TimeSpan DefaultPushback = TimeSpan.FromSeconds(1);

    public static RpcException ToRpcException(Exception exception, string backendId, ProviderRefusal? refusal)
    {
        switch (exception)
        {
            case RpcException rpc:
                return rpc;
            case AdmissionRejectedException rejected:
                return Exhausted($"backend '{backendId}' is at capacity ({rejected.Message}); retry later", rejected.RetryAfter);
            case BackendStalledException stalled:
                return Unavailable($"backend '{backendId}' stalled: {stalled.Message}");
            case SimulatedBackendException simulated:
                return Unavailable($"backend '{backendId}' failed: {simulated.Message}");
            case ClientResultException openAi when openAi.Status != 0:
                return FromHttpStatus(backendId, openAi.Status, ProviderMessage(openAi.Message), refusal);
            case BackendReplyException { Status: { } status } reply:
                return FromHttpStatus(backendId, status, reply.Message, refusal);
            case BackendReplyException reply:
                return Unavailable($"backend '{backendId}' reported an error in its stream: {reply.Message}");
            case AnthropicApiException anthropic:
                return FromHttpStatus(backendId, (int)anthropic.StatusCode, (anthropic as AnthropicServiceException)?.ApiMessage ?? anthropic.Message, refusal);
            case AnthropicSseException sse:
                return Unavailable($"backend '{backendId}' reported an error in its stream: {sse.ApiMessage ?? sse.Message}");
            case JsonException or FormatException or AnthropicInvalidDataException or InvalidDataException:
                return Unavailable($"backend '{backendId}' sent a malformed response: {exception.Message}");
        }

        if (Find<SocketException>(exception) is { } socket)
        {
            return Unavailable($"backend '{backendId}' is unreachable: {socket.Message}");
        }

        if (Find<HttpRequestException>(exception) is { } http)
        {
            return Unavailable($"backend '{backendId}' is unreachable: {http.Message}");
        }

        if (refusal is not null)
        {
            return FromHttpStatus(backendId, (int)refusal.Status, exception.Message, refusal);
        }

        return Unavailable($"backend '{backendId}' failed: {exception.GetType().Name}: {exception.Message}");
    }

    private static RpcException FromHttpStatus(string backendId, int status, string message, ProviderRefusal? refusal)
    {
        var code = (HttpStatusCode)status;
        return code switch
        {
            HttpStatusCode.TooManyRequests => Exhausted(
                $"backend '{backendId}' is rate limited by its provider (429): {message}",
                refusal?.RetryAfter ?? DefaultPushback),
            HttpStatusCode.BadRequest or HttpStatusCode.RequestEntityTooLarge or HttpStatusCode.UnprocessableEntity =>
                new RpcException(new Status(StatusCode.InvalidArgument, $"backend '{backendId}' rejected the request ({status}): {message}")),
            HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden => Unavailable(
                $"backend '{backendId}' refused this node's credentials ({status}): {message}; check the variable named by api_key_env"),
            _ => Unavailable($"backend '{backendId}' answered {status}: {message}"),
        };
    }

    private static RpcException Unavailable(string message) => new(new Status(StatusCode.Unavailable, message));

    private static RpcException Exhausted(string message, TimeSpan retryAfter)
    {
        var trailers = new Metadata
        {
            { RouterMetadata.RetryPushback, ((long)Math.Ceiling(retryAfter.TotalMilliseconds)).ToString(CultureInfo.InvariantCulture) },
        };
        return new RpcException(new Status(StatusCode.ResourceExhausted, message), trailers);
    }

    /// <summary>The OpenAI SDK prefixes the provider's message with status lines; keep the provider's words.</summary>
    private static string ProviderMessage(string message)
    {
        var lines = message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return lines.Length switch
        {
            0 => message,
            _ => lines.FirstOrDefault(line => !line.StartsWith("HTTP ", StringComparison.Ordinal) && !line.StartsWith("Status:", StringComparison.Ordinal)) ?? lines[0],
        };
    }

    private static T? Find<T>(Exception exception)
        where T : Exception
    {
        for (Exception? current = exception; current is not null; current = current.InnerException)
        {
            if (current is T match)
            {
                return match;
            }
        }

        return null;
    }
}
