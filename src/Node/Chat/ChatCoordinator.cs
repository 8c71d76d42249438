using Grpc.Core;
using LlmRouter.Common.Protocol;
using LlmRouter.Node.Catalog;
using LlmRouter.Node.Forwarding;
using LlmRouter.Node.Hosting;
using LlmRouter.Node.Resilience;
using LlmRouter.Node.Routing;
using LlmRouter.V1;

namespace LlmRouter.Node.Chat;

/// <summary>
/// Takes a chat from the Router service to its end (DESIGN.md sections 6 and 7): admission to the node
/// (drain), loop and hop-limit checks, validation, ranking of every candidate in reach, then attempts in
/// rank order: served here or forwarded to the pool member that has the model. Before the first token a
/// failed attempt moves on to the next candidate (bounded attempts, jittered backoff, within the
/// deadline), so the client sees one answer; after it, the stream ends with a status and the partial flag.
/// Every way out is a gRPC status: a stream is never dropped without one.
/// </summary>
internal sealed partial class ChatCoordinator(
    NodeCatalog catalog,
    RouteRanker ranker,
    LocalChatExecutor local,
    RemoteChatExecutor remote,
    BackendBreakers breakers,
    IdempotentAnswers answers,
    DrainState drain,
    TimeProvider time,
    ILogger<ChatCoordinator> logger)
{
    private const int MaxAttempts = 3;
    private const uint DefaultBroadcastFanout = 2;

    public async Task ChatAsync(ChatRequest request, IServerStreamWriter<ChatResponse> stream, ServerCallContext context)
    {
        var receivedAt = time.GetTimestamp();
        var snapshot = catalog.Current;
        var self = new Hop { Node = snapshot.Node.Id, Pool = snapshot.Node.Pool };
        using var open = drain.Enter(self.Node);
        var requestId = RequestIds.From(context.RequestHeaders);
        var path = ForwardingPath.Read(context.RequestHeaders);
        using var scope = logger.BeginScope(new Dictionary<string, object> { ["RequestId"] = requestId });
        ForwardingPath.EnsureAllowed(path, self.Node);

        RequestValidator.Validate(request, snapshot.Mesh.Server);
        var forwardedHere = path.Count > 0;
        if (request.IdempotencyKey.Length == 0 || forwardedHere)
        {
            await RouteAsync(request, stream, context, snapshot, self, requestId, path, receivedAt).ConfigureAwait(false);
            return;
        }

        // A retry with the same key gets the answer already generated (or being generated), not a second one.
        var answer = answers.Begin(request.IdempotencyKey, request, out var isNew);
        if (!isNew)
        {
            LogReplayed(logger, requestId, request.IdempotencyKey);
            await answer.ReplayAsync(stream, context.CancellationToken).ConfigureAwait(false);
            return;
        }

        try
        {
            await RouteAsync(request, answer.Recording(stream), context, snapshot, self, requestId, path, receivedAt).ConfigureAwait(false);
            answer.Complete(null);
        }
        catch (Exception ex)
        {
            answers.Forget(request.IdempotencyKey, answer);
            answer.Complete(ex as RpcException ?? new RpcException(new Status(StatusCode.Unavailable, "the first request with this idempotency key ended without an answer; retry")));
            throw;
        }
    }

    private async Task RouteAsync(
        ChatRequest request,
        IServerStreamWriter<ChatResponse> stream,
        ServerCallContext context,
        CatalogSnapshot snapshot,
        Hop self,
        string requestId,
        IReadOnlyList<string> path,
        long receivedAt)
    {
        var forwardedHere = path.Count > 0;
        var candidates = ranker.Rank(snapshot, RouteQuery.For(request), localOnly: forwardedHere || request.Mode == RoutingMode.Local);

        // The call ends on the client's cancellation, its deadline, or the end of a shutdown's drain bound.
        using var lifetime = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, drain.StreamsAborted);
        var output = new ChatOutput(stream, keepText: request.AllowContinuation);
        var failures = new List<(RouteCandidate Candidate, RpcException Error)>();
        var call = new ForwardingContext(self, requestId, path, context.Deadline, receivedAt, Attempt: 1);
        try
        {
            if (request.Mode == RoutingMode.Broadcast && !forwardedHere && candidates.Count > 1)
            {
                var fanout = (int)(request.BroadcastFanout > 0 ? request.BroadcastFanout : DefaultBroadcastFanout);
                await BroadcastAsync(request, candidates.Take(fanout).Select(c => c.Target).ToList(), call, output, lifetime.Token).ConfigureAwait(false);
                LogServed(logger, requestId, "broadcast", time.GetElapsedTime(receivedAt).TotalMilliseconds);
                return;
            }

            foreach (var candidate in Attempts(candidates, request, forwardedHere))
            {
                var attempt = (uint)failures.Count + 1;
                LogAttempt(logger, requestId, attempt, candidate.Model, candidate.Node, candidate.Backend);
                try
                {
                    var attemptRequest = output.DeliveredCharacters > 0 ? Continuation(request, output, failures[^1].Candidate) : request;
                    await ServeAsync(attemptRequest, candidate, call with { Attempt = attempt }, output, lifetime.Token).ConfigureAwait(false);

                    LogServed(logger, requestId, candidate.Node, time.GetElapsedTime(receivedAt).TotalMilliseconds);
                    return;
                }
                catch (RpcException ex) when (!output.Committed && Retryable(ex) && !lifetime.IsCancellationRequested)
                {
                    failures.Add((candidate, ex));
                    LogAttemptFailed(logger, requestId, attempt, candidate.Node, ex.StatusCode, ex.Status.Detail);
                    await BackoffAsync(lifetime.Token).ConfigureAwait(false);
                }
                catch (RpcException ex) when (output.Committed && request.AllowContinuation && Retryable(ex) && !lifetime.IsCancellationRequested)
                {
                    // After the first token nothing is re-run silently: the next candidate continues from the
                    // text the client has, and the seam is marked in the stream (DESIGN.md section 7).
                    failures.Add((candidate, ex));
                    LogContinuing(logger, requestId, attempt, candidate.Node, output.DeliveredCharacters, ex.Status.Detail);
                    output.BeginSeam($"{candidate.Node}/{candidate.Backend} failed after {output.DeliveredCharacters} characters: {ex.Status.Detail}");
                }
            }

            throw Exhausted(failures);
        }
        catch (OperationCanceledException) when (drain.StreamsAborted.IsCancellationRequested && !context.CancellationToken.IsCancellationRequested)
        {
            throw Partial(new RpcException(new Status(StatusCode.Unavailable,
                $"node '{self.Node}' shut down before the answer was complete (drain bound {snapshot.Mesh.Server.DrainTimeout.TotalSeconds:0}s reached)")), output);
        }
        catch (OperationCanceledException) when (context.CancellationToken.IsCancellationRequested)
        {
            LogCancelled(logger, requestId, context.Deadline < time.GetUtcNow().UtcDateTime ? "deadline passed" : "client cancelled");
            throw;
        }
        catch (RpcException ex) when (ex.StatusCode != StatusCode.Cancelled || !context.CancellationToken.IsCancellationRequested)
        {
            LogFailed(logger, requestId, ex.StatusCode, ex.Status.Detail);
            throw Partial(ex, output);
        }
    }

    /// <summary>
    /// The candidates to try, at most <see cref="MaxAttempts"/>, each backend (or integrator) once: the best of the first
    /// ranking, then after each failure the best untried one of a fresh ranking, since a failed attempt may
    /// have taken seconds in which the mesh changed (a member came back, a route appeared or went).
    /// </summary>
    private IEnumerable<RouteCandidate> Attempts(IReadOnlyList<ScoredCandidate> first, ChatRequest request, bool forwardedHere)
    {
        var tried = new HashSet<string>(StringComparer.Ordinal);
        var ranking = first;
        while (tried.Count < MaxAttempts)
        {
            if (tried.Count > 0)
            {
                try
                {
                    ranking = ranker.Rank(catalog.Current, RouteQuery.For(request), localOnly: forwardedHere || request.Mode == RoutingMode.Local);
                }
                catch (RpcException)
                {
                    // Nothing in reach any more: what is left of the earlier ranking is all there is.
                }
            }

            var next = ranking.Select(c => c.Target).FirstOrDefault(c => !tried.Contains(AttemptKey(c)))
                ?? first.Select(c => c.Target).FirstOrDefault(c => !tried.Contains(AttemptKey(c)));
            if (next is null)
            {
                yield break;
            }

            tried.Add(AttemptKey(next));
            yield return next;
        }
    }

    /// <summary>A backend is tried once; a route once per integrator (the integrator picks the copy behind it).</summary>
    private static string AttemptKey(RouteCandidate candidate) => candidate.IsRoute ? candidate.Node : candidate.BackendKey;

    /// <summary>Serves one attempt on one candidate: on this node's backend, or forwarded to the member that has it.</summary>
    private Task ServeAsync(ChatRequest request, RouteCandidate candidate, ForwardingContext call, IChatSink sink, CancellationToken cancellationToken) =>
        breakers.ExecuteAsync(candidate.BackendKey, token => candidate.Local is { } target
            ? local.ServeAsync(request, target, Route(call.RequestId, call.Self, candidate, call.Attempt), sink, call.ReceivedAt, call.Self.Node, token)
            : remote.ServeAsync(request, candidate, sink, call, token), cancellationToken);

    /// <summary>
    /// Races the candidates; the first to yield a token wins and the rest are cancelled at once. When every
    /// racer fails before a token, the failures are reported together; a winner that fails later ends the
    /// stream with its status (and the partial flag).
    /// </summary>
    private async Task BroadcastAsync(ChatRequest request, List<RouteCandidate> racers, ForwardingContext call, ChatOutput output, CancellationToken cancellationToken)
    {
        using var race = new BroadcastRace(output, racers.Count, cancellationToken);
        async Task<(RouteCandidate Candidate, RpcException? Error)> RaceAsync(RouteCandidate candidate, int index)
        {
            try
            {
                await ServeAsync(request, candidate, call with { Attempt = (uint)index + 1 }, race.Sink(index), race.Token(index)).ConfigureAwait(false);
                return (candidate, null);
            }
            catch (OperationCanceledException) when (race.Token(index).IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                // Lost the race: cancelled at once by the winner.
                return (candidate, null);
            }
            catch (RpcException ex)
            {
                return (candidate, ex);
            }
        }

        var outcomes = await Task.WhenAll(racers.Select(RaceAsync)).ConfigureAwait(false);

        cancellationToken.ThrowIfCancellationRequested();
        if (race.Winner >= 0)
        {
            if (outcomes[race.Winner].Error is { } failed)
            {
                throw failed;
            }

            return;
        }

        throw Exhausted(outcomes.Where(o => o.Error is not null).Select(o => (o.Candidate, o.Error!)).ToList());
    }

    /// <summary>The request a continuing candidate gets: the original conversation plus the partial answer.</summary>
    private static ChatRequest Continuation(ChatRequest request, ChatOutput output, RouteCandidate previous)
    {
        var continuation = request.Clone();
        continuation.Continuation = new Continuation
        {
            PartialText = output.DeliveredText,
            PreviousNode = previous.Node,
            PreviousBackend = previous.Backend,
        };
        return continuation;
    }

    private static RouteInfo Route(string requestId, Hop self, RouteCandidate candidate, uint attempt)
    {
        var route = new RouteInfo
        {
            RequestId = requestId,
            ServingNode = self.Node,
            Backend = candidate.Backend,
            Model = candidate.Model,
            BackendKind = candidate.BackendKind,
            Attempt = attempt,
            TraceId = System.Diagnostics.Activity.Current?.TraceId.ToHexString() ?? "",
        };
        route.Path.Add(self);
        return route;
    }

    /// <summary>Failures another candidate may not share. A bad request stays bad wherever it goes.</summary>
    private static bool Retryable(RpcException error) =>
        error.StatusCode is not (StatusCode.InvalidArgument or StatusCode.PermissionDenied or StatusCode.Unauthenticated or StatusCode.DeadlineExceeded);

    /// <summary>
    /// One failure is reported as it was; after several, RESOURCE_EXHAUSTED (with the shortest pushback)
    /// only when every candidate was full, otherwise UNAVAILABLE listing what each attempt met.
    /// </summary>
    private static RpcException Exhausted(List<(RouteCandidate Candidate, RpcException Error)> failures)
    {
        if (failures.Count == 1)
        {
            return failures[0].Error;
        }

        var summary = string.Join("; ", failures.Select(f => $"{f.Candidate.Node}/{f.Candidate.Backend}: {f.Error.StatusCode}: {f.Error.Status.Detail}"));
        if (failures.All(f => f.Error.StatusCode == StatusCode.ResourceExhausted))
        {
            var pushback = failures
                .Select(f => long.TryParse(f.Error.Trailers.GetValue(RouterMetadata.RetryPushback), out var ms) ? ms : long.MaxValue)
                .Min();
            var trailers = new Metadata();
            if (pushback != long.MaxValue)
            {
                trailers.Add(RouterMetadata.RetryPushback, pushback.ToString(System.Globalization.CultureInfo.InvariantCulture));
            }

            return new RpcException(new Status(StatusCode.ResourceExhausted, $"no candidate in reach has room: {summary}"), trailers);
        }

        return new RpcException(new Status(StatusCode.Unavailable, $"no candidate could serve the request after {failures.Count} attempts: {summary}"));
    }

    /// <summary>Text already reached the client: the status carries the partial flag (DESIGN.md section 7).</summary>
    private static RpcException Partial(RpcException error, ChatOutput output)
    {
        if (output.DeliveredCharacters == 0 || error.Trailers.GetValue(RouterMetadata.Partial) is not null)
        {
            return error;
        }

        var trailers = new Metadata { { RouterMetadata.Partial, "true" } };
        foreach (var entry in error.Trailers)
        {
            trailers.Add(entry);
        }

        return new RpcException(error.Status, trailers);
    }

    private Task BackoffAsync(CancellationToken cancellationToken) =>
        Task.Delay(TimeSpan.FromMilliseconds(10 + (Random.Shared.NextDouble() * 30)), time, cancellationToken);

    [LoggerMessage(EventId = 1001, Level = LogLevel.Information, Message = "Request {RequestId} attempt {Attempt}: model {Model} on node {Node} backend {Backend}")]
    private static partial void LogAttempt(ILogger logger, string requestId, uint attempt, string model, string node, string backend);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Information, Message = "Request {RequestId} served by {Node} in {ElapsedMs:0.0} ms")]
    private static partial void LogServed(ILogger logger, string requestId, string node, double elapsedMs);

    [LoggerMessage(EventId = 1003, Level = LogLevel.Information, Message = "Request {RequestId} ended early: {Reason}; backend request cancelled")]
    private static partial void LogCancelled(ILogger logger, string requestId, string reason);

    [LoggerMessage(EventId = 1004, Level = LogLevel.Warning, Message = "Request {RequestId} failed with {StatusCode}: {Detail}")]
    private static partial void LogFailed(ILogger logger, string requestId, StatusCode statusCode, string detail);

    [LoggerMessage(EventId = 1007, Level = LogLevel.Information, Message = "Request {RequestId} replays the answer of idempotency key {Key}")]
    private static partial void LogReplayed(ILogger logger, string requestId, string key);

    [LoggerMessage(EventId = 1006, Level = LogLevel.Warning, Message = "Request {RequestId} attempt {Attempt} on {Node} failed after {Characters} characters: {Detail}; the next candidate continues the answer")]
    private static partial void LogContinuing(ILogger logger, string requestId, uint attempt, string node, long characters, string detail);

    [LoggerMessage(EventId = 1005, Level = LogLevel.Warning, Message = "Request {RequestId} attempt {Attempt} on {Node} failed before the first token with {StatusCode}: {Detail}; trying the next candidate")]
    private static partial void LogAttemptFailed(ILogger logger, string requestId, uint attempt, string node, StatusCode statusCode, string detail);
}
