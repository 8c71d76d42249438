using LlmRouter.V1;
using Microsoft.AspNetCore.Http;

namespace LlmRouter.Common.Ingress;

/// <summary>
/// Routing choices an HTTP client makes through headers (the JSON bodies are the providers' own and have no
/// place for them), and the route and hop timings the answer carries back in headers.
/// </summary>
internal static class IngressRouting
{
    public const string Profile = "x-llmrouter-profile";
    public const string Mode = "x-llmrouter-mode";
    public const string Labels = "x-llmrouter-labels";
    public const string Continuation = "x-llmrouter-allow-continuation";
    public const string Fanout = "x-llmrouter-broadcast-fanout";
    public const string IdempotencyKey = "idempotency-key";

    public const string RequestId = "x-request-id";
    public const string Route = "x-llmrouter-route";
    public const string ServingNode = "x-llmrouter-serving-node";
    public const string Backend = "x-llmrouter-backend";
    public const string Model = "x-llmrouter-model";
    public const string Attempt = "x-llmrouter-attempt";
    public const string Hops = "x-llmrouter-hops";

    /// <summary>Applies the routing headers to a chat; a bad value is a 400 naming the header.</summary>
    public static void Apply(IHeaderDictionary headers, ChatRequest request)
    {
        if (headers[Profile].ToString() is { Length: > 0 } profile)
        {
            request.RoutingProfile = profile;
        }

        if (headers[Mode].ToString() is { Length: > 0 } mode)
        {
            request.Mode = mode.ToLowerInvariant() switch
            {
                "auto" => RoutingMode.Auto,
                "local" => RoutingMode.Local,
                "broadcast" => RoutingMode.Broadcast,
                _ => throw IngressException.Invalid(Mode, $"'{mode}' is not a routing mode (use auto, local or broadcast)"),
            };
        }

        request.PolicyLabels.AddRange(LabelsOf(headers));
        if (headers[Continuation].ToString() is { Length: > 0 } continuation)
        {
            request.AllowContinuation = bool.TryParse(continuation, out var allowed)
                ? allowed
                : throw IngressException.Invalid(Continuation, $"'{continuation}' is not true or false");
        }

        if (headers[Fanout].ToString() is { Length: > 0 } fanout)
        {
            request.BroadcastFanout = uint.TryParse(fanout, out var count)
                ? count
                : throw IngressException.Invalid(Fanout, $"'{fanout}' is not a whole number");
        }

        if (headers[IdempotencyKey].ToString() is { Length: > 0 } key)
        {
            request.IdempotencyKey = key;
        }
    }

    /// <summary>Policy labels from the labels header: comma separated.</summary>
    public static IEnumerable<string> LabelsOf(IHeaderDictionary headers) =>
        headers[Labels].ToString().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>The route's headers, set before the first byte of the answer.</summary>
    public static void SetRoute(HttpResponse response, RouteInfo route)
    {
        response.Headers[RequestId] = route.RequestId;
        response.Headers[Route] = string.Join(">", route.Path.Select(hop => hop.Node));
        response.Headers[ServingNode] = route.ServingNode;
        response.Headers[Backend] = route.Backend;
        response.Headers[Model] = route.Model;
        response.Headers[Attempt] = route.Attempt.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>The members of the x_llmrouter extension at an answer's end: its hops and whether it was continued.</summary>
    public static void WriteHops(System.Text.Json.Utf8JsonWriter json, ChatCompleted completed)
    {
        json.WriteString("hops", DescribeHops(completed.Hops));
        json.WriteBoolean("continued", completed.Continued);
    }

    /// <summary>Each hop's timings, serving node first: "b1;ttft=12.1;queue=0.0;total=40.2, a1;ttft=13.0;..." (milliseconds).</summary>
    public static string DescribeHops(IEnumerable<HopTiming> hops) => string.Join(", ", hops.Select(hop => FormattableString.Invariant(
        $"{hop.Node};ttft={hop.TimeToFirstToken?.ToTimeSpan().TotalMilliseconds ?? 0:0.0};queue={hop.QueueWait?.ToTimeSpan().TotalMilliseconds ?? 0:0.0};total={hop.Total?.ToTimeSpan().TotalMilliseconds ?? 0:0.0}")));
}
