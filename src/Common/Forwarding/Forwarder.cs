using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using LlmRouter.Common.Chat;
using LlmRouter.Common.Grpc;
using LlmRouter.Common.Protocol;
using LlmRouter.Common.Routing;
using LlmRouter.V1;

namespace LlmRouter.Common.Forwarding;

/// <summary>
/// Sends one attempt on to the member that serves the chosen candidate (a pool member, or an integrator
/// for a route), over the same Router API with mutual TLS, and relays each frame the moment it arrives
/// (DESIGN.md section 6): the path, the request's remaining attempt budget and the copies that already
/// failed travel in metadata, the deadline sent on is what remains minus a margin, cancellation travels
/// with the call (a client that leaves cancels the serving backend), trace context travels with the HTTP
/// request, and this hop adds itself to the route and its timing to the final frame.
/// </summary>
internal sealed class Forwarder(PeerChannels channels, ForwardedLoad forwarded, TimeProvider time, Telemetry.RouterMetrics metrics)
{
    /// <summary>Relays one forwarded chat into the sink; returns the backends the hops below tried.</summary>
    public async Task<int> ChatAsync(ChatRequest request, RouteCandidate target, IChatSink output, ForwardingContext context, CancellationToken cancellationToken)
    {
        var forwardedRequest = request.Clone();
        forwardedRequest.Model = target.Model;
        // A pool member serves from its own backends; an integrator routes on across its border.
        forwardedRequest.Mode = target.IsRoute ? RoutingMode.Auto : RoutingMode.Local;

        using var open = forwarded.Track(target.Key);
        try
        {
            using var call = channels.Router(target.Pool, target.Address)
                .Chat(forwardedRequest, context.Headers(), ForwardingPath.NextDeadline(context.Deadline), cancellationToken);
            await RelayAsync(call, output, context, cancellationToken).ConfigureAwait(false);
            return AttemptBudget.ReadUsed(call.GetTrailers());
        }
        catch (RpcException ex) when (ex.StatusCode == StatusCode.Cancelled && cancellationToken.IsCancellationRequested)
        {
            // Our own cancellation (client gone, deadline, drain, a lost race), not the peer's answer.
            throw new OperationCanceledException("the forwarded call was cancelled", ex, cancellationToken);
        }
    }

    /// <summary>Forwards one embedding request; the response's route gets this hop in front. Returns it with the backends the hops below tried.</summary>
    public async Task<(EmbedResponse Response, int Used)> EmbedAsync(EmbedRequest request, RouteCandidate target, ForwardingContext context, CancellationToken cancellationToken)
    {
        var forwardedRequest = request.Clone();
        forwardedRequest.Model = target.Model;
        using var open = forwarded.Track(target.Key);
        try
        {
            using var call = channels.Router(target.Pool, target.Address)
                .EmbedAsync(forwardedRequest, context.Headers(), ForwardingPath.NextDeadline(context.Deadline), cancellationToken);
            var response = await call.ResponseAsync.ConfigureAwait(false);
            response.Route ??= new RouteInfo();
            response.Route.Path.Insert(0, context.Self);
            response.Route.Attempt += context.AttemptsBefore;
            return (response, AttemptBudget.ReadUsed(call.GetTrailers()));
        }
        catch (RpcException ex) when (ex.StatusCode == StatusCode.Cancelled && cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException("the forwarded call was cancelled", ex, cancellationToken);
        }
    }

    private async Task RelayAsync(AsyncServerStreamingCall<ChatResponse> call, IChatSink output, ForwardingContext context, CancellationToken cancellationToken)
    {
        long firstTokenAt = 0;
        using var frames = new LookaheadReader<ChatResponse>(call.ResponseStream, cancellationToken);
        while (await frames.MoveNextAsync().ConfigureAwait(false))
        {
            var frame = frames.Current;
            switch (frame.FrameCase)
            {
                case ChatResponse.FrameOneofCase.Route:
                    frame.Route.Path.Insert(0, context.Self);
                    // The hop below numbers its own attempts; the request's count includes those made here before.
                    frame.Route.Attempt += context.AttemptsBefore;
                    output.Route(frame.Route);
                    break;
                case ChatResponse.FrameOneofCase.Delta:
                case ChatResponse.FrameOneofCase.ToolCall:
                    if (firstTokenAt == 0)
                    {
                        firstTokenAt = time.GetTimestamp();
                    }

                    await output.DeltaAsync(frame, flush: !frames.NextArrived, cancellationToken).ConfigureAwait(false);
                    break;
                case ChatResponse.FrameOneofCase.Completed:
                    var total = time.GetElapsedTime(context.ReceivedAt);
                    var firstToken = firstTokenAt == 0 ? total : time.GetElapsedTime(context.ReceivedAt, firstTokenAt);
                    // Only a first attempt measures this hop: after a failover or a cut, the time since arrival holds the earlier attempts.
                    if (firstTokenAt != 0 && context.AttemptsBefore == 0 && frame.Completed.Hops.Count > 0 && frame.Completed.Hops[^1].TimeToFirstToken is { } below)
                    {
                        metrics.HopAdded(serve: false, firstToken - below.ToTimeSpan());
                    }

                    frame.Completed.Hops.Add(new HopTiming
                    {
                        Node = context.Self.Node,
                        TimeToFirstToken = Duration.FromTimeSpan(firstToken),
                        QueueWait = Duration.FromTimeSpan(TimeSpan.Zero),
                        Total = Duration.FromTimeSpan(total),
                    });
                    await output.CompletedAsync(frame, cancellationToken).ConfigureAwait(false);
                    break;
                default:
                    // Only the entry node continues answers (AttemptBudget): a hop below never sends a seam.
                    throw new RpcException(new Status(StatusCode.Internal,
                        $"the hop below sent a {frame.FrameCase} frame, which only an entry node writes"));
            }
        }
    }
}

/// <summary>What a forwarding hop needs to know about the call it forwards.</summary>
/// <param name="AttemptsBefore">Backends this hop tried for the request before this attempt.</param>
/// <param name="AttemptsLeft">What is left of the request's attempt budget for the hops below.</param>
/// <param name="Failed">Copies that already failed for the request: no hop below tries them again.</param>
/// <param name="Tenant">The tenant the request is served for: the hop below applies its permissions too.</param>
internal sealed record ForwardingContext(
    Hop Self,
    string RequestId,
    IReadOnlyList<string> Path,
    DateTime Deadline,
    long ReceivedAt,
    uint AttemptsBefore,
    int AttemptsLeft,
    IReadOnlyCollection<string> Failed,
    string Tenant)
{
    public Metadata Headers() => ForwardingPath.Headers(RequestId, Path, Self.Node, AttemptsLeft, Failed, Tenant);
}
