using Grpc.Core;
using LlmRouter.Common.Protocol;
using Microsoft.AspNetCore.Http;

namespace LlmRouter.Common.Ingress;

/// <summary>
/// An HTTP ingress request as the one pipeline sees a call: the client's cancellation (a closed connection
/// cancels the backend at once), no deadline, and only the headers a client may set. Forwarding headers
/// (path, attempt budget, failed copies) are never taken from HTTP: a client is a client. The HttpContext
/// travels in the user state under grpc-dotnet's key, so the pipeline finds the connection (its listener,
/// its client certificate) as it does for a gRPC call.
/// </summary>
internal sealed class HttpCallContext : ServerCallContext
{
    // grpc-dotnet's GetHttpContext() looks here for a context that is not its own.
    private const string HttpContextKey = "__HttpContext";

    private static readonly string[] TraceHeaders = ["traceparent", "tracestate"];
    private static readonly string[] CredentialHeaders = [Access.Callers.AuthorizationHeader, Access.Callers.ApiKeyHeader];

    private readonly HttpContext _http;
    private readonly Metadata _headers;
    private readonly Metadata _trailers = [];
    private readonly string _method;

    public HttpCallContext(HttpContext http, string method)
    {
        _http = http;
        _method = method;
        _headers = [];
        // A caller's request id (OpenAI's x-request-id style) is kept when it is plain; RequestIds checks it.
        if (http.Request.Headers["x-request-id"].ToString() is { Length: > 0 } id)
        {
            _headers.Add(RouterMetadata.RequestId, id);
        }

        // The client's credentials: OpenAI's SDKs send authorization: Bearer, Anthropic's x-api-key (Callers reads both).
        foreach (var header in CredentialHeaders)
        {
            if (http.Request.Headers[header].ToString() is { Length: > 0 } value)
            {
                _headers.Add(header, value);
            }
        }

        // The client's trace context (W3C), so the request's spans hang under the client's.
        foreach (var header in TraceHeaders)
        {
            if (http.Request.Headers[header].ToString() is { Length: > 0 } value)
            {
                _headers.Add(header, value);
            }
        }

        UserState[HttpContextKey] = http;
    }

    /// <summary>The HTTP path the client called (the pipeline's method is the gRPC one it maps onto).</summary>
    public string Path => _http.Request.Path.Value ?? "";

    protected override string MethodCore => _method;

    protected override string HostCore => _http.Request.Host.Value ?? "";

    protected override string PeerCore => $"{_http.Connection.RemoteIpAddress}:{_http.Connection.RemotePort}";

    protected override DateTime DeadlineCore => DateTime.MaxValue;

    protected override Metadata RequestHeadersCore => _headers;

    protected override CancellationToken CancellationTokenCore => _http.RequestAborted;

    protected override Metadata ResponseTrailersCore => _trailers;

    protected override Status StatusCore { get; set; }

    protected override WriteOptions? WriteOptionsCore { get; set; }

    protected override AuthContext AuthContextCore { get; } = new(null, []);

    protected override ContextPropagationToken CreatePropagationTokenCore(ContextPropagationOptions? options) =>
        throw new NotSupportedException("an HTTP ingress request does not propagate a gRPC context");

    protected override Task WriteResponseHeadersAsyncCore(Metadata responseHeaders) => Task.CompletedTask;
}
