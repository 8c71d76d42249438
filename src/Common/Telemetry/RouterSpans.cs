using System.Diagnostics;
using Grpc.Core;
using LlmRouter.Common.Routing;
using LlmRouter.V1;

namespace LlmRouter.Common.Telemetry;

/// <summary>
/// The spans of the router's own work (DESIGN.md section 14): at every hop a <c>chat</c> span, the hop's
/// server span, for the request's life there, holding the routing
/// decision (candidates, winner, its score) and an event per failover and continuation, with an
/// <c>attempt</c> span per candidate tried (a forward's gRPC call, and so the next hop's spans, sit
/// below it); on the serving node an <c>admission</c> span when the request queued for a slot, and the
/// backend call in the GenAI span conventions. Nothing is built when no exporter listens: every method takes a
/// null activity.
/// A span's attributes are added (AddTag), not set, where each is written once on a span just started: setting
/// searches the span's list for the key first, which a profile of a node tracing every request found at 0.9% of
/// its CPU. The routing decision, written again on every ranking, and a failure's status are set.
/// </summary>
internal static class RouterSpans
{
    private static ActivitySource Source => MeshMeter.Activities;

    /// <summary>
    /// The request's span at this hop, named "chat" (the model asked for is a client's string, so it goes in an
    /// attribute, not in the name a trace backend groups by); null when the request is not traced. It is the hop's
    /// server span: its parent is the caller's span named in the call's <c>traceparent</c> (the previous hop's
    /// forward, or the client's), whose sampled flag a forwarded request follows; at the entry, a client's sampled
    /// trace is followed and a request with none starts one, as <see cref="RequestTracing"/> allows. A forwarded
    /// request with none is not traced (a trace is recorded whole or not at all). Nothing is created for a request
    /// that is not traced, and the spans below a chat that is not recorded are not either. ASP.NET Core's own
    /// request activity is not the parent: it is not recorded
    /// (recording every call at that level, gossip included, cost a node 10% of its throughput, sampled or not).
    /// </summary>
    public static Activity? Chat(ChatRequest request, string requestId, bool entry, string tenant, ServerCallContext call, RequestTracing tracing)
    {
        if (!tracing.Enabled)
        {
            return null;
        }

        var caller = CallerContext(call.RequestHeaders);
        var traced = caller.TraceId == default ? entry && tracing.StartsTrace()
            : (caller.TraceFlags & ActivityTraceFlags.Recorded) != 0 && (!entry || tracing.FollowsClient());
        if (!traced)
        {
            return null;
        }

        var hosting = Activity.Current;
        Activity.Current = null;
        var activity = Source.StartActivity(MeshSampler.RequestSpan, ActivityKind.Server, caller);
        if (activity is null)
        {
            Activity.Current = hosting;
        }
        else if (activity.IsAllDataRequested)
        {
            RpcMethod.Tag(activity, RpcMethod.Parse(call.Method));
            if (call is Ingress.HttpCallContext http)
            {
                activity.AddTag("url.path", http.Path);
            }

            activity.AddTag("gen_ai.operation.name", "chat");
            activity.AddTag("gen_ai.request.model", request.Model);
            activity.AddTag("llmrouter.request_id", requestId);
            activity.AddTag("llmrouter.hop", entry ? "entry" : "forwarded");
            activity.AddTag("llmrouter.tenant", tenant);
            activity.AddTag("llmrouter.mode", request.Mode.ToString());
        }

        return activity;
    }

    // A span below one that is not recorded is not recorded either (MeshSampler): not even asked for.
    private static bool UnderRecordedSpan => Activity.Current is { Recorded: true };

    /// <summary>The caller's span context from the call's W3C <c>traceparent</c> and <c>tracestate</c>; default (none) when absent or malformed.</summary>
    private static ActivityContext CallerContext(Metadata headers)
    {
        DistributedContextPropagator.Current.ExtractTraceIdAndState(headers, static (carrier, name, out value, out values) =>
        {
            value = ((Metadata)carrier!).GetValue(name);
            values = null;
        }, out var traceParent, out var traceState);
        return ActivityContext.TryParse(traceParent, traceState, isRemote: true, out var context) ? context : default;
    }

    /// <summary>The routing decision, on the request's span: how many candidates were ranked, the winner, and the best few with their scores when there was a choice.</summary>
    public static void Ranked(Activity? chat, IReadOnlyList<ScoredCandidate> ranked)
    {
        if (chat is not { IsAllDataRequested: true })
        {
            return;
        }

        chat.SetTag("llmrouter.candidates", ranked.Count);
        if (ranked.Count > 0)
        {
            chat.SetTag("llmrouter.winner", ranked[0].Target.Key);
            chat.SetTag("llmrouter.winner.score", ranked[0].Score);
        }

        if (ranked.Count < 2)
        {
            // The winner and its score say it all (and an earlier ranking's list no longer holds); the formatted list
            // was the costliest of a traced request's attributes.
            chat.SetTag("llmrouter.ranking", null);
            return;
        }

        var ranking = new System.Text.StringBuilder();
        for (var i = 0; i < Math.Min(5, ranked.Count); i++)
        {
            ranking.Append(i == 0 ? "" : ", ").Append(ranked[i].Target.Key).Append('=')
                .Append(ranked[i].Score.ToString("0.000", System.Globalization.CultureInfo.InvariantCulture));
        }

        chat.SetTag("llmrouter.ranking", ranking.ToString());
    }

    /// <summary>One attempt on one candidate; ended by the caller, with <see cref="Failed"/> when it failed.</summary>
    public static Activity? Attempt(RouteCandidate candidate, uint attempt)
    {
        if (!UnderRecordedSpan)
        {
            return null;
        }

        var activity = Source.StartActivity("attempt " + candidate.Key);
        if (activity is { IsAllDataRequested: true })
        {
            activity.AddTag("llmrouter.attempt", attempt);
            activity.AddTag("llmrouter.target", candidate.IsLocal ? "local" : candidate.IsRoute ? "integrator" : "peer");
            activity.AddTag("llmrouter.target.node", candidate.Node);
            activity.AddTag("llmrouter.target.backend", candidate.Backend);
            activity.AddTag("gen_ai.request.model", candidate.Model);
        }

        return activity;
    }

    /// <summary>Marks a span failed with the gRPC status it ended in.</summary>
    public static void Failed(Activity? activity, StatusCode status, string detail)
    {
        if (activity is null)
        {
            return;
        }

        activity.SetStatus(ActivityStatusCode.Error, detail);
        activity.SetTag("error.type", RouterMetrics.StatusName(status));
        activity.SetTag("rpc.grpc.status_code", (int)status);
    }

    /// <summary>An attempt failed before the first token and the request moves on to the next candidate.</summary>
    public static void Failover(Activity? chat, RouteCandidate failed, StatusCode status) =>
        chat?.AddEvent(new ActivityEvent("failover", tags: new ActivityTagsCollection
        {
            ["llmrouter.failed"] = failed.Key,
            ["error.type"] = RouterMetrics.StatusName(status),
        }));

    /// <summary>An answer was cut after its first token and the next candidate continues it.</summary>
    public static void Continuation(Activity? chat, RouteCandidate failed, long characters) =>
        chat?.AddEvent(new ActivityEvent("continuation", tags: new ActivityTagsCollection
        {
            ["llmrouter.failed"] = failed.Key,
            ["llmrouter.delivered_characters"] = characters,
        }));

    /// <summary>The wait for a slot of the backend, when the request had to queue for one.</summary>
    public static Activity? Admission(string backend)
    {
        if (!UnderRecordedSpan)
        {
            return null;
        }

        var activity = Source.StartActivity("admission " + backend);
        activity?.AddTag("llmrouter.backend", backend);
        return activity;
    }

    /// <summary>The call to a backend, as the GenAI conventions name it ("chat MODEL", a client span).</summary>
    public static Activity? BackendCall(BackendCall call, string upstreamModel)
    {
        if (!UnderRecordedSpan)
        {
            return null;
        }

        var activity = Source.StartActivity(call.Operation + " " + call.Model, ActivityKind.Client);
        if (activity is { IsAllDataRequested: true })
        {
            activity.AddTag("gen_ai.operation.name", call.Operation);
            activity.AddTag("gen_ai.provider.name", call.Provider);
            activity.AddTag("gen_ai.request.model", upstreamModel);
            activity.AddTag("llmrouter.model", call.Model);
            activity.AddTag("llmrouter.backend", call.Backend);
        }

        return activity;
    }

    /// <summary>What the backend call answered: usage, finish reason, time to its first chunk.</summary>
    public static void Answered(Activity? activity, long inputTokens, long outputTokens, FinishReason finish, TimeSpan? firstChunk)
    {
        if (activity is not { IsAllDataRequested: true })
        {
            return;
        }

        activity.AddTag("gen_ai.usage.input_tokens", inputTokens);
        activity.AddTag("gen_ai.usage.output_tokens", outputTokens);
        activity.AddTag("gen_ai.response.finish_reasons", new[] { FinishName(finish) });
        if (firstChunk is { } first)
        {
            activity.AddTag("llmrouter.time_to_first_chunk_ms", first.TotalMilliseconds);
        }
    }

    private static string FinishName(FinishReason finish) => finish switch
    {
        FinishReason.Stop => "stop",
        FinishReason.Length => "length",
        FinishReason.ToolCalls => "tool_calls",
        FinishReason.ContentFilter => "content_filter",
        _ => "unspecified",
    };
}
