using Grpc.Core;
using LlmRouter.Common.Protocol;

namespace LlmRouter.Common.Ingress;

/// <summary>
/// The HTTP status for each way the pipeline refuses or fails a request, the same for both APIs (each
/// writes it in its own error shape), and the Retry-After a pushback becomes.
/// </summary>
internal static class IngressStatus
{
    public static int Of(RpcException error) => error.StatusCode switch
    {
        StatusCode.InvalidArgument or StatusCode.FailedPrecondition or StatusCode.OutOfRange => 400,
        StatusCode.Unauthenticated => 401,
        StatusCode.PermissionDenied => 403,
        StatusCode.NotFound => 404,
        StatusCode.ResourceExhausted when error.Status.Detail.StartsWith("request:", StringComparison.Ordinal) => 413,
        StatusCode.ResourceExhausted => 429,
        // The client is still here (had it left, nothing would be written): a hop below was cancelled.
        StatusCode.Cancelled => 503,
        StatusCode.Unavailable or StatusCode.Aborted => 503,
        StatusCode.DeadlineExceeded => 504,
        StatusCode.Unimplemented => 501,
        _ => 500,
    };

    /// <summary>Retry-After in whole seconds (rounded up) from the pipeline's pushback, when it set one.</summary>
    public static string? RetryAfter(RpcException error) =>
        error.Trailers.GetValue(RouterMetadata.RetryPushback) is { } millis && long.TryParse(millis, out var ms) && ms >= 0
            ? ((ms + 999) / 1000).ToString(System.Globalization.CultureInfo.InvariantCulture)
            : null;

    /// <summary>The field a refusal names ("messages[0].content: must not be empty" names messages[0].content), or null.</summary>
    public static string? FieldOf(string detail)
    {
        var colon = detail.IndexOf(": ", StringComparison.Ordinal);
        return colon > 0 && !detail.AsSpan(0, colon).ContainsAny(" '\"") ? detail[..colon] : null;
    }
}
