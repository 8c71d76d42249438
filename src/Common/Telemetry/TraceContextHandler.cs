using System.Diagnostics;
using System.Net.Http.Headers;

namespace LlmRouter.Common.Telemetry;

/// <summary>
/// Carries the current span's W3C context (<c>traceparent</c>, <c>tracestate</c>, baggage) on each HTTP request
/// to a backend or a peer, in place of HttpClient's own diagnostics, which the handler below it has turned off
/// (<see cref="Disable"/>). HttpClient would start a span of its own for every call, traced or not, and name that
/// span in the header; here a backend's server sees the router's <c>chat MODEL</c> span, the GenAI client span of
/// the call, as its parent, and the next hop the forward's gRPC client span. Those spans already time the call and
/// hold its outcome, so the HTTP span only repeated them, and was one of the five spans a traced request made at a
/// serving node.
/// </summary>
internal sealed class TraceContextHandler(HttpMessageHandler inner) : DelegatingHandler(inner)
{
    private static readonly DistributedContextPropagator.PropagatorSetterCallback SetHeader = static (carrier, name, value) =>
    {
        if (carrier is HttpRequestHeaders headers && !headers.NonValidated.Contains(name))
        {
            headers.TryAddWithoutValidation(name, value);
        }
    };

    /// <summary>Turns off HttpClient's own spans and headers on <paramref name="handler"/>: this handler carries the context.</summary>
    public static SocketsHttpHandler Disable(SocketsHttpHandler handler)
    {
        handler.ActivityHeadersPropagator = null;
        return handler;
    }

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (Activity.Current is { } current)
        {
            DistributedContextPropagator.Current.Inject(current, request.Headers, SetHeader);
        }

        return base.SendAsync(request, cancellationToken);
    }
}
