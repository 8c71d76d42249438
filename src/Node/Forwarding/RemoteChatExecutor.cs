using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using LlmRouter.Common.Grpc;
using LlmRouter.Common.Protocol;
using LlmRouter.Node.Chat;
using LlmRouter.Node.Routing;
using LlmRouter.V1;

namespace LlmRouter.Node.Forwarding;

/// <summary>
/// Forwards a chat to the pool member that serves the chosen candidate, over the same Router API with
/// mutual TLS, and relays each frame the moment it arrives (DESIGN.md section 6): the path travels in
/// metadata, the deadline sent on is what remains minus a margin, cancellation travels with the call
/// (a client that leaves cancels the serving backend), trace context travels with the HTTP request, and
/// this hop adds itself to the route and its timing to the final frame.
/// </summary>
internal sealed class RemoteChatExecutor(PeerClients peers, ForwardedLoad forwarded, TimeProvider time)
{
    public async Task ServeAsync(
        ChatRequest request,
        RouteCandidate target,
        IChatSink output,
        ForwardingContext context,
        CancellationToken cancellationToken)
    {
        var forwardedRequest = request.Clone();
        forwardedRequest.Model = target.Model;
        // A pool member serves from its own backends; an integrator routes on across its border.
        forwardedRequest.Mode = target.IsRoute ? RoutingMode.Auto : RoutingMode.Local;
        var headers = ForwardingPath.Headers(context.RequestId, context.Path, context.Self.Node);
        var deadline = ForwardingPath.NextDeadline(context.Deadline);

        using var open = forwarded.Track(target.BackendKey);
        try
        {
            await RelayAsync(peers.For(target.Address).Chat(forwardedRequest, headers, deadline, cancellationToken), output, context, cancellationToken)
                .ConfigureAwait(false);
        }
        catch (RpcException ex) when (ex.StatusCode == StatusCode.Cancelled && cancellationToken.IsCancellationRequested)
        {
            // Our own cancellation (client gone, deadline, drain), not the peer's answer.
            throw new OperationCanceledException("the forwarded call was cancelled", ex, cancellationToken);
        }
    }

    private async Task RelayAsync(AsyncServerStreamingCall<ChatResponse> call, IChatSink output, ForwardingContext context, CancellationToken cancellationToken)
    {
        using var _ = call;
        long firstTokenAt = 0;
        using var frames = new LookaheadReader<ChatResponse>(call.ResponseStream, cancellationToken);
        while (await frames.MoveNextAsync().ConfigureAwait(false))
        {
            var frame = frames.Current;
            switch (frame.FrameCase)
            {
                case ChatResponse.FrameOneofCase.Route:
                    frame.Route.Path.Insert(0, context.Self);
                    frame.Route.Attempt = context.Attempt;
                    output.Route(frame.Route);
                    break;
                case ChatResponse.FrameOneofCase.Delta:
                    if (firstTokenAt == 0)
                    {
                        firstTokenAt = time.GetTimestamp();
                    }

                    await output.DeltaAsync(frame, flush: !frames.NextArrived, cancellationToken).ConfigureAwait(false);
                    break;
                case ChatResponse.FrameOneofCase.Completed:
                    var total = time.GetElapsedTime(context.ReceivedAt);
                    frame.Completed.Hops.Add(new HopTiming
                    {
                        Node = context.Self.Node,
                        TimeToFirstToken = Duration.FromTimeSpan(firstTokenAt == 0 ? total : time.GetElapsedTime(context.ReceivedAt, firstTokenAt)),
                        QueueWait = Duration.FromTimeSpan(TimeSpan.Zero),
                        Total = Duration.FromTimeSpan(total),
                    });
                    await output.CompletedAsync(frame, cancellationToken).ConfigureAwait(false);
                    break;
            }
        }
    }
}

/// <summary>What a forwarding hop needs to know about the call it forwards.</summary>
internal sealed record ForwardingContext(
    Hop Self,
    string RequestId,
    IReadOnlyList<string> Path,
    DateTime Deadline,
    long ReceivedAt,
    uint Attempt);
