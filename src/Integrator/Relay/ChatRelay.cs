using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using LlmRouter.Common.Grpc;
using LlmRouter.Common.Identity;
using LlmRouter.Common.Protocol;
using LlmRouter.Integrator.Border;
using LlmRouter.V1;

namespace LlmRouter.Integrator.Relay;

/// <summary>
/// Carries a chat across the border with the same rules as a node's forward (DESIGN.md section 6): only
/// members of the mesh may hand requests to an integrator; the path is checked (loop, hop limit) and
/// extended; the deadline sent on is what remains minus a margin; the caller's cancellation cancels the
/// call on; trace context travels with the HTTP request; each frame is written the moment it arrives.
/// Before the first token a failed target is replaced by the next (at most three tries); after it, the
/// status goes back with the partial flag and the entry node decides whether the answer continues.
/// </summary>
internal sealed partial class ChatRelay(BorderPools pools, BorderTargets targets, BorderClients clients, MeshTrust trust, TimeProvider time, ILogger<ChatRelay> logger)
{
    private const int MaxAttempts = 3;

    public async Task ChatAsync(ChatRequest request, IServerStreamWriter<ChatResponse> stream, ServerCallContext context)
    {
        var receivedAt = time.GetTimestamp();
        var (arrival, requestId, path) = Admit(context);
        if (string.IsNullOrEmpty(request.Model) || request.Messages.Count == 0)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "model and messages: a forwarded chat names its model and carries the conversation"));
        }

        var query = new BorderQuery(request.Model, ModelKind.Chat, request.Requirements, request.PolicyLabels);
        var ranked = targets.Find(arrival.Name, query, path);
        var self = new Hop { Node = pools.IntegratorId, Pool = arrival.Name };
        var failures = new List<(string Member, RpcException Error)>();
        foreach (var target in ranked.Take(MaxAttempts))
        {
            var relay = new Relayed(stream, self, receivedAt, time);
            try
            {
                using var open = targets.Track(target);
                var forwarded = request.Clone();
                forwarded.Model = target.Model.Id;
                forwarded.Mode = target.IsRoute ? RoutingMode.Auto : RoutingMode.Local;
                using var call = clients.For(target.Pool, target.Address).Chat(
                    forwarded,
                    ForwardingPath.Headers(requestId, path, pools.IntegratorId),
                    ForwardingPath.NextDeadline(context.Deadline),
                    context.CancellationToken);
                using var frames = new LookaheadReader<ChatResponse>(call.ResponseStream, context.CancellationToken);
                while (await frames.MoveNextAsync().ConfigureAwait(false))
                {
                    await relay.WriteAsync(frames.Current, flush: !frames.NextArrived).ConfigureAwait(false);
                }

                LogCarried(logger, requestId, arrival.Name, target.Pool.Name, target.Member, time.GetElapsedTime(receivedAt).TotalMilliseconds);
                return;
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.Cancelled && context.CancellationToken.IsCancellationRequested)
            {
                throw new OperationCanceledException("the caller cancelled", ex, context.CancellationToken);
            }
            catch (RpcException ex) when (!relay.Committed && Retryable(ex))
            {
                failures.Add((target.Member, ex));
                LogAttemptFailed(logger, requestId, target.Member, ex.StatusCode, ex.Status.Detail);
            }
            catch (RpcException ex) when (relay.Committed)
            {
                throw WithPartialFlag(ex);
            }
        }

        throw Exhausted(pools.IntegratorId, request.Model, failures);
    }

    /// <summary>One failure as it was; RESOURCE_EXHAUSTED when every target was full; else UNAVAILABLE listing each.</summary>
    internal static RpcException Exhausted(string integrator, string model, List<(string Member, RpcException Error)> failures)
    {
        if (failures.Count == 1)
        {
            return failures[0].Error;
        }

        var summary = string.Join("; ", failures.Select(f => $"{f.Member}: {f.Error.StatusCode}: {f.Error.Status.Detail}"));
        return failures.All(f => f.Error.StatusCode == StatusCode.ResourceExhausted)
            ? new RpcException(new Status(StatusCode.ResourceExhausted, $"every target behind integrator '{integrator}' is full: {summary}"), failures[0].Error.Trailers)
            : new RpcException(new Status(StatusCode.Unavailable, $"integrator '{integrator}' could not carry '{model}' across: {summary}"));
    }

    /// <summary>The caller (a member of one of this integrator's pools), the request id and the path, checked.</summary>
    internal (BorderPool Arrival, string RequestId, IReadOnlyList<string> Path) Admit(ServerCallContext context)
    {
        var caller = CallerIdentity.Require(context, trust, MeshRole.Node, MeshRole.Integrator);
        var arrival = pools.Find(caller.Pool) ?? throw new RpcException(new Status(StatusCode.PermissionDenied,
            $"{caller} is in pool '{caller.Pool}', which integrator '{pools.IntegratorId}' does not join"));
        var path = ForwardingPath.Read(context.RequestHeaders);
        ForwardingPath.EnsureAllowed(path, pools.IntegratorId);
        return (arrival, RequestIds.From(context.RequestHeaders), path);
    }

    /// <summary>Failures another target may not share. A bad request stays bad wherever it goes.</summary>
    internal static bool Retryable(RpcException error) =>
        error.StatusCode is not (StatusCode.InvalidArgument or StatusCode.PermissionDenied or StatusCode.Unauthenticated
            or StatusCode.DeadlineExceeded or StatusCode.FailedPrecondition or StatusCode.Cancelled);

    private static RpcException WithPartialFlag(RpcException error)
    {
        if (error.Trailers.GetValue(RouterMetadata.Partial) is not null)
        {
            return error;
        }

        var trailers = new Metadata { { RouterMetadata.Partial, "true" } };
        foreach (var entry in error.Trailers.Where(e => !e.Key.StartsWith("grpc-", StringComparison.Ordinal) || e.Key == RouterMetadata.RetryPushback))
        {
            trailers.Add(entry);
        }

        return new RpcException(error.Status, trailers);
    }

    [LoggerMessage(EventId = 6101, Level = LogLevel.Information, Message = "Request {RequestId} carried from {From} into {Into} to {Member} in {ElapsedMs:0.0} ms")]
    private static partial void LogCarried(ILogger logger, string requestId, string from, string into, string member, double elapsedMs);

    [LoggerMessage(EventId = 6102, Level = LogLevel.Warning, Message = "Request {RequestId} to {Member} failed before the first token with {StatusCode}: {Detail}; trying the next target")]
    private static partial void LogAttemptFailed(ILogger logger, string requestId, string member, StatusCode statusCode, string detail);

    /// <summary>
    /// One attempt's output: the route frame is held until the first token or the end (so a target that
    /// fails before answering leaves nothing behind), then every frame goes out as it arrives.
    /// </summary>
    private sealed class Relayed(IServerStreamWriter<ChatResponse> stream, Hop self, long receivedAt, TimeProvider time)
    {
        private ChatResponse? _route;
        private long _firstTokenAt;

        /// <summary>Something reached the caller: this attempt can no longer be replaced silently.</summary>
        public bool Committed { get; private set; }

        /// <param name="flush">False when the next frame has already arrived and is written right after this one.</param>
        public async Task WriteAsync(ChatResponse frame, bool flush)
        {
            switch (frame.FrameCase)
            {
                case ChatResponse.FrameOneofCase.Route:
                    frame.Route.Path.Insert(0, self);
                    _route = frame;
                    return;
                case ChatResponse.FrameOneofCase.Delta when _firstTokenAt == 0:
                    _firstTokenAt = time.GetTimestamp();
                    break;
                case ChatResponse.FrameOneofCase.Completed:
                    var total = time.GetElapsedTime(receivedAt);
                    frame.Completed.Hops.Add(new HopTiming
                    {
                        Node = self.Node,
                        TimeToFirstToken = Duration.FromTimeSpan(_firstTokenAt == 0 ? total : time.GetElapsedTime(receivedAt, _firstTokenAt)),
                        QueueWait = Duration.FromTimeSpan(TimeSpan.Zero),
                        Total = Duration.FromTimeSpan(total),
                    });
                    break;
            }

            if (_route is { } route)
            {
                _route = null;
                Committed = true;
                // The held route frame goes out in one flush with the frame that releases it.
                await stream.WriteAsync(route, flush: false, CancellationToken.None).ConfigureAwait(false);
            }

            Committed = true;
            await stream.WriteAsync(frame, flush, CancellationToken.None).ConfigureAwait(false);
        }
    }
}
