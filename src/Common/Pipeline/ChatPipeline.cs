using Grpc.Core;
using LlmRouter.Common.Chat;
using LlmRouter.Common.Forwarding;
using LlmRouter.Common.Hosting;
using LlmRouter.Common.Resilience;
using LlmRouter.Common.Routing;
using LlmRouter.Common.Telemetry;
using LlmRouter.V1;
using Microsoft.Extensions.Logging;

namespace LlmRouter.Common.Pipeline;

/// <summary>
/// Takes a chat from the Router service to its end, the same on every node and integrator (DESIGN.md
/// sections 6, 7 and 11): admission (drain), arrival (seat, caller, loop and hop limit, attempt budget),
/// validation, idempotency at the entry, ranking of every candidate in the host's scope, then attempts in
/// rank order, served on the host's own backend or forwarded. Before the first token a failed attempt
/// moves on to the next candidate (within the request's budget for the whole path, jittered backoff,
/// within the deadline), so the client sees one answer; after it, the entry node lets another candidate
/// continue (allow_continuation) or ends the stream with a status and the partial flag, and a hop below
/// the entry reports the partial failure upward. Every failure is recorded against the copy that failed.
/// Every way out is a gRPC status: a stream is never dropped without one.
/// </summary>
internal sealed partial class ChatPipeline(
    IRouterHost host,
    Arrivals arrivals,
    RoutePlanner planner,
    Forwarder forwarder,
    CopyBreakers breakers,
    IdempotentAnswers answers,
    DrainState drain,
    TimeProvider time,
    Func<double> random,
    RouterMetrics metrics,
    RequestTracing tracing,
    Quotas.QuotaGate quotas,
    Audit.RouteRecorder recorder,
    ILogger<ChatPipeline> logger)
{
    private const uint DefaultBroadcastFanout = 2;

    public async Task ChatAsync(ChatRequest request, IServerStreamWriter<ChatResponse> stream, ServerCallContext context)
    {
        var receivedAt = time.GetTimestamp();
        var snapshot = host.Current;
        Arrival? admitted = null;
        IDisposable? open = null;
        Quotas.QuotaGate.Admitted? quota = null;
        List<Protection.RequestGuardrails.Fired> guardrails = [];
        try
        {
            open = drain.Enter(host.Id);
            admitted = await arrivals.RouterAsync(context, snapshot.Mesh).ConfigureAwait(false);
            RequestValidator.Validate(request, snapshot.Server, checkSchemas: !admitted.Forwarded);
            Access.TenantPermits.CheckProfile(request, admitted.Tenant, snapshot.Routing, snapshot.Mesh.SourcePath);

            // Guardrails at the entry, before the request uses any quota: a block ends it here, a mask changes what goes on.
            if (!admitted.Forwarded)
            {
                var entered = admitted;
                request = await Protection.RequestGuardrails.ScreenAsync(snapshot.Mesh.Protection.Guardrails, request, entered.Tenant,
                    (guardrail, asked, cancellationToken) => AskGuardModelAsync(guardrail, asked, entered, snapshot, context), guardrails, context.CancellationToken).ConfigureAwait(false);
                metrics.Guardrails(guardrails);
                if (guardrails.Find(g => g.Verdict == Configuration.GuardrailVerdict.Block) is { } block)
                {
                    throw Protection.RequestGuardrails.Blocked(block);
                }
            }

            // Quotas count at the entry hop only: the hops below serve a request the entry already admitted. A request
            // with an idempotency key is admitted below, only when it is not a replay (a replay uses nothing).
            quota = admitted.Forwarded || request.IdempotencyKey.Length > 0 ? null : quotas.Admit(admitted.Tenant, snapshot.Mesh.SourcePath);
        }
        catch (RpcException ex)
        {
            // Refused before routing: the drain's count of open calls is handed back, and the refusal counted.
            open?.Dispose();
            Refused(ex, request, admitted, receivedAt, guardrails);
            throw;
        }
        catch (Exception ex)
        {
            // The client left or its deadline passed while a guard model was being asked (or a fault): the drain's
            // count is handed back all the same, and the request recorded with what ended it.
            open?.Dispose();
            var status = ex is not OperationCanceledException ? StatusCode.Internal
                : context.Deadline < time.GetUtcNow().UtcDateTime ? StatusCode.DeadlineExceeded : StatusCode.Cancelled;
            Refused(new RpcException(new Status(status, "the call ended while its guardrails were checked")), request, admitted, receivedAt, guardrails);
            throw;
        }

        var arrival = admitted;
        using var draining = open;
        using var counted = quota;
        using var scope = logger.BeginScope(new Dictionary<string, object> { ["RequestId"] = arrival.RequestId, ["Tenant"] = arrival.Tenant.Name, ["Caller"] = arrival.Principal.ProvenBy });
        if (request.IdempotencyKey.Length == 0 || arrival.Forwarded)
        {
            await RouteAsync(request, stream, context, arrival, snapshot, receivedAt, quota, guardrails).ConfigureAwait(false);
            return;
        }

        // A retry with the same key gets the answer already generated (or being generated), not a second one. Keys
        // are the tenant's own: another tenant's request with the same key and bytes is its own request, routed
        // under its own permissions, and learns nothing of the first.
        var key = arrival.Tenant.Name + "\u001f" + request.IdempotencyKey;
        IdempotentAnswers.Answer answer;
        bool isNew;
        try
        {
            answer = answers.Begin(key, request, out isNew);
        }
        catch (RpcException ex)
        {
            // The key was used for another request: refused before routing, and recorded so.
            Refused(ex, request, arrival, receivedAt, guardrails);
            throw;
        }

        if (!isNew)
        {
            LogReplayed(logger, arrival.RequestId, request.IdempotencyKey);
            try
            {
                await answer.ReplayAsync(stream, context.CancellationToken).ConfigureAwait(false);
                recorder.Replayed(request, arrival, StatusCode.OK, receivedAt, guardrails);
            }
            catch (RpcException ex)
            {
                recorder.Replayed(request, arrival, ex.StatusCode, receivedAt, guardrails);
                throw;
            }

            return;
        }

        try
        {
            using var admittedNew = AdmitNew(request, arrival, snapshot, receivedAt);
            await RouteAsync(request, answer.Recording(stream), context, arrival, snapshot, receivedAt, admittedNew, guardrails).ConfigureAwait(false);
            answer.Complete(null);
        }
        catch (Exception ex)
        {
            answers.Forget(key, answer);
            answer.Complete(ex as RpcException ?? new RpcException(new Status(StatusCode.Unavailable, "the first request with this idempotency key ended without an answer; retry")));
            throw;
        }
    }

    /// <summary>Admits a new request with an idempotency key against the tenant's quotas; a refusal is counted as one before routing.</summary>
    private Quotas.QuotaGate.Admitted AdmitNew(ChatRequest request, Arrival arrival, HostSnapshot snapshot, long receivedAt)
    {
        try
        {
            return quotas.Admit(arrival.Tenant, snapshot.Mesh.SourcePath);
        }
        catch (RpcException ex)
        {
            Refused(ex, request, arrival, receivedAt);
            throw;
        }
    }

    /// <summary>Routes the chat and records how it ended (<see cref="RouterMetrics"/>): whole, continued, or failed with its status.</summary>
    private async Task RouteAsync(
        ChatRequest request, IServerStreamWriter<ChatResponse> stream, ServerCallContext context, Arrival arrival, HostSnapshot snapshot, long receivedAt, Quotas.QuotaGate.Admitted? quota,
        List<Protection.RequestGuardrails.Fired> guardrails)
    {
        // Only the entry node continues an answer after its first token (AttemptBudget): it holds the text the client has.
        var continues = request.AllowContinuation && !arrival.Forwarded;
        var output = new ChatOutput(stream, keepText: continues, time);
        var account = new RequestAccount { Guardrails = guardrails };
        using var span = RouterSpans.Chat(request, arrival.RequestId, !arrival.Forwarded, arrival.Tenant.Name, context, tracing);
        try
        {
            await RouteAsync(request, output, continues, CallTerms.Of(context), arrival, snapshot, receivedAt, span, account).ConfigureAwait(false);
            var outcome = output.Continued ? RequestOutcome.Continued : RequestOutcome.Whole;
            metrics.RequestEnded(!arrival.Forwarded, request.Mode, outcome, StatusCode.OK, time.GetElapsedTime(receivedAt));
            recorder.Chat(request, arrival, output, account.Masking, account.Attempts, outcome, StatusCode.OK, receivedAt, account.Guardrails);
        }
        catch (Exception ex)
        {
            // Caught, not filtered: the routing's own finally blocks (its account of attempts and guardrails) have run by now.
            Ended(ex, request, context, arrival, receivedAt, span, output, account);
            throw;
        }
        finally
        {
            // Whole or failed: what the answer used counts.
            Charge(quota, request, output);
        }
    }

    /// <summary>
    /// Counts what the answer used against the tenant's quotas, priced at the model that served it: the usage the
    /// answer reported. What the client received was used even where no usage says so, at about four characters a
    /// token: the text of the attempts before a continuation (the continuing attempt reports only its own part), and
    /// all of it when no usage came back (a stream cancelled or failed after its text), with the conversation's
    /// text as the input then. A request that failed before any text used nothing the tenant is charged for.
    /// </summary>
    private static void Charge(Quotas.QuotaGate.Admitted? quota, ChatRequest request, ChatOutput output)
    {
        static long Tokens(long characters) => (characters + 3) / 4;
        if (quota is null || (output.Usage is null && output.DeliveredCharacters == 0))
        {
            return;
        }

        var input = output.Usage is { } usage ? (long)usage.InputTokens : Tokens(request.Messages.Sum(m => (long)m.Content.Length + m.Parts.Sum(p => p.Text.Length)));
        var generated = output.Usage is { } reported ? (long)reported.OutputTokens + Tokens(output.CharactersBeforeSeam) : Tokens(output.DeliveredCharacters);
        var price = output.Served is { } served ? ((input * served.InputPricePerMillion) + (generated * served.OutputPricePerMillion)) / 1_000_000 : 0;
        quota.Used(input, generated, (decimal)Math.Clamp(price, 0, 1e12));
    }

    /// <summary>
    /// Records a chat refused before routing (draining, an arrival rule, a bad request): failed with its status,
    /// at the hop its metadata names when it got that far ("unknown" when it did not).
    /// </summary>
    private void Refused(RpcException error, ChatRequest request, Arrival? arrival, long receivedAt, List<Protection.RequestGuardrails.Fired>? guardrails = null)
    {
        metrics.RequestEnded(arrival is null ? null : !arrival.Forwarded, request.Mode, RequestOutcome.Failed, error.StatusCode, time.GetElapsedTime(receivedAt));
        recorder.Chat(request, arrival, null, null, 0, RequestOutcome.Failed, error.StatusCode, receivedAt, guardrails ?? []);
    }

    /// <summary>Records a chat that ended in a failure.</summary>
    private void Ended(
        Exception error, ChatRequest request, ServerCallContext context, Arrival arrival, long receivedAt, System.Diagnostics.Activity? span, ChatOutput output, RequestAccount account)
    {
        var status = error switch
        {
            RpcException rpc => rpc.StatusCode,
            OperationCanceledException when context.Deadline < time.GetUtcNow().UtcDateTime => StatusCode.DeadlineExceeded,
            OperationCanceledException => StatusCode.Cancelled,
            _ => StatusCode.Internal,
        };
        metrics.RequestEnded(!arrival.Forwarded, request.Mode, RequestOutcome.Failed, status, time.GetElapsedTime(receivedAt));
        recorder.Chat(request, arrival, output, account.Masking, account.Attempts, RequestOutcome.Failed, status, receivedAt, account.Guardrails);
        RouterSpans.Failed(span, status, (error as RpcException)?.Status.Detail ?? error.Message);
    }

    /// <summary>What a routed chat is bound by: its deadline, its cancellation, and the trailers that carry its account upward.</summary>
    private readonly record struct CallTerms(DateTime Deadline, CancellationToken Cancelled, Metadata Trailers)
    {
        public static CallTerms Of(ServerCallContext context) => new(context.Deadline, context.CancellationToken, context.ResponseTrailers);
    }

    /// <param name="asksGuard">A guard model's question (<see cref="AskGuardModelAsync"/>): its answer is read by the mesh, not screened for a client.</param>
    private async Task RouteAsync(
        ChatRequest request, ChatOutput output, bool continues, CallTerms context, Arrival arrival, HostSnapshot snapshot, long receivedAt, System.Diagnostics.Activity? span,
        RequestAccount account, bool asksGuard = false)
    {
        var query = RouteQuery.For(request, arrival.Seat.Name);
        var scope = planner.Scope(arrival, request.Mode);
        var candidates = planner.Rank(snapshot, query, scope);
        RouterSpans.Ranked(span, candidates);
        var self = new Hop { Node = host.Id, Pool = arrival.Seat.Name };
        var ledger = new AttemptLedger(arrival.Budget, arrival.FailedBefore, host.Id);
        // The call ends on the client's cancellation, its deadline, the end of a shutdown's drain bound, or an answer guardrail's block.
        using var lifetime = CancellationTokenSource.CreateLinkedTokenSource(context.Cancelled, drain.StreamsAborted);
        var masking = arrival.Forwarded ? null : Protection.RequestMasking.ForEntry(snapshot.Mesh.Protection.Masking, arrival.Tenant, request.PolicyLabels, arrival.Seat.Name, candidates);
        var screening = arrival.Forwarded || asksGuard ? null : Protection.AnswerGuardrails.ForEntry(snapshot.Mesh.Protection.Guardrails, request, arrival.Tenant, lifetime);
        var protection = masking is null && screening is null ? null : new Protection.EntryProtection(masking, screening);
        account.Masking = masking;
        var call = new ForwardingContext(self, arrival.RequestId, arrival.Path, context.Deadline, receivedAt, 0, 0, arrival.FailedBefore, arrival.Tenant.Name);
        try
        {
            if (request.Mode == RoutingMode.Broadcast && !arrival.Forwarded && candidates.Count > 1)
            {
                // Racers are attempts: no more of them than the request's budget (the validator bounds the fanout by it too).
                var fanout = Math.Min(ledger.Remaining, (int)(request.BroadcastFanout > 0 ? request.BroadcastFanout : DefaultBroadcastFanout));
                await BroadcastAsync(request, candidates.Take(fanout).Select(c => c.Target).ToList(), call, output, ledger, protection, lifetime.Token).ConfigureAwait(false);
                ledger.Report(context.Trailers);
                LogServed(logger, arrival.RequestId, "broadcast", time.GetElapsedTime(receivedAt).TotalMilliseconds);
                return;
            }

            void Served(RouteCandidate candidate, int used)
            {
                metrics.Routed(candidate, entry: !arrival.Forwarded);
                ledger.Served(used);
                ledger.Report(context.Trailers);
                LogServed(logger, arrival.RequestId, candidate.Node, time.GetElapsedTime(receivedAt).TotalMilliseconds);
            }

            // A failed attempt becomes a failover (or a continuation) only when another attempt follows it.
            Move? moving = null;
            while (ledger.Next(candidates, () => planner.Rerank(query, scope)) is { } candidate)
            {
                if (breakers.Refusal(candidate.Key) is { } cooling)
                {
                    ledger.Skip(candidate, cooling);
                    metrics.Attempt(candidate, AttemptResult.Skipped);
                    continue;
                }

                if (moving is { } move)
                {
                    Moved(move, span, output);
                    moving = null;
                }

                var attempt = (uint)ledger.Used + 1;
                LogAttempt(logger, arrival.RequestId, attempt, candidate.Model, candidate.Node, candidate.Backend);
                var attemptSpan = RouterSpans.Attempt(candidate, attempt);
                try
                {
                    var attemptRequest = output.DeliveredCharacters > 0 ? Continuation(request, output) : request;
                    var forward = call with { AttemptsBefore = (uint)ledger.Used, AttemptsLeft = ledger.Remaining, Failed = ledger.ExcludedFor(candidate) };
                    output.Served = candidate;
                    var used = await ServeAsync(attemptRequest, candidate, forward, output, protection, lifetime.Token).ConfigureAwait(false);
                    Served(candidate, used);
                    return;
                }
                catch (Exception ex) when (ClientLeftWithTheAnswer(output, context, ex))
                {
                    // The client read the answer's final frame and left while this hop was still reading the trailers of
                    // the hop below (gRPC Python cancels the call as soon as a loop stops reading at the final frame):
                    // this attempt served the request. Counted CANCELLED, 3 of 48 answers a Python client read whole
                    // showed up as failed.
                    await AttemptServedAsync(candidate).ConfigureAwait(false);
                    Served(candidate, used: 1);
                    return;
                }
                catch (RpcException ex) when (!output.Committed && AttemptLedger.Retryable(ex) && !lifetime.IsCancellationRequested)
                {
                    await FailedAsync(ledger, candidate, ex).ConfigureAwait(false);
                    RouterSpans.Failed(attemptSpan, ex.StatusCode, ex.Status.Detail);
                    moving = new Move(candidate, ex.StatusCode, Continues: false);
                    LogAttemptFailed(logger, arrival.RequestId, attempt, candidate.Node, ex.StatusCode, ex.Status.Detail);
                    await BackoffAsync(lifetime.Token).ConfigureAwait(false);
                }
                catch (RpcException ex) when (output.Committed && continues && !output.ToolCallBegun && AttemptLedger.Retryable(ex) && !lifetime.IsCancellationRequested)
                {
                    // After the first token nothing is re-run silently: the next candidate continues from the
                    // text the client has, and the seam is marked in the stream (DESIGN.md section 7). Only
                    // text is continued: a tool call cut mid-arguments is never finished by another model.
                    await FailedAsync(ledger, candidate, ex).ConfigureAwait(false);
                    RouterSpans.Failed(attemptSpan, ex.StatusCode, ex.Status.Detail);
                    // A continuation that failed before its own first token leaves the seam as it was: the
                    // next attempt takes over from it as a failover, not as a second continuation.
                    moving = new Move(candidate, ex.StatusCode, Continues: !output.SeamPending);
                    LogContinuing(logger, arrival.RequestId, attempt, candidate.Node, output.DeliveredCharacters, ex.Status.Detail);
                    if (!output.SeamPending)
                    {
                        // The copy the client's text came from stopped; a continuation that fails before its own
                        // first token leaves that reason as it is.
                        output.BeginSeam($"{output.CommittedRoute!.ServingNode}/{output.CommittedRoute.Backend} failed after {output.DeliveredCharacters} characters: {ex.Status.Detail}");
                    }
                }
                catch (RpcException ex) when (!lifetime.IsCancellationRequested)
                {
                    // Final here: a failure another candidate would share, or text went out and this hop does not
                    // continue. It is recorded, and reported upward with this hop's account.
                    await FailedAsync(ledger, candidate, ex).ConfigureAwait(false);
                    RouterSpans.Failed(attemptSpan, ex.StatusCode, ex.Status.Detail);
                    throw;
                }
                finally
                {
                    attemptSpan?.Dispose();
                }
            }

            throw ledger.Exhausted(request.Model);
        }
        catch (OperationCanceledException) when (screening?.Blocked is { } blocked)
        {
            // An answer guardrail stopped the stream: the attempt was cancelled, and the request ends naming the rule.
            var refusal = Protection.RequestGuardrails.Blocked(blocked);
            LogFailed(logger, arrival.RequestId, refusal.StatusCode, refusal.Status.Detail);
            throw ledger.Report(refusal, output.Delivered);
        }
        catch (OperationCanceledException) when (drain.StreamsAborted.IsCancellationRequested && !context.Cancelled.IsCancellationRequested)
        {
            throw ledger.Report(new RpcException(new Status(StatusCode.Unavailable,
                $"'{host.Id}' shut down before the answer was complete (drain bound {snapshot.Server.DrainTimeout.TotalSeconds:0}s reached)")), output.Delivered);
        }
        catch (OperationCanceledException) when (context.Cancelled.IsCancellationRequested)
        {
            LogCancelled(logger, arrival.RequestId, context.Deadline < time.GetUtcNow().UtcDateTime ? "deadline passed" : "client cancelled");
            throw;
        }
        catch (RpcException ex) when (ex.StatusCode != StatusCode.Cancelled || !context.Cancelled.IsCancellationRequested)
        {
            LogFailed(logger, arrival.RequestId, ex.StatusCode, ex.Status.Detail);
            throw ledger.Report(ex, output.Delivered);
        }
        finally
        {
            account.Attempts = ledger.Used;
            if (screening?.Fired is { Count: > 0 } screened)
            {
                account.Guardrails.AddRange(screened);
                metrics.Guardrails(screened);
            }

            if (masking is { Masked: > 0 })
            {
                metrics.Masked(masking.MaskedByLabel);
                span?.SetTag("llmrouter.masked_values", masking.Masked);
            }
        }
    }

    /// <summary>
    /// Serves one attempt on one candidate, on this host's backend or forwarded to the member that has it, and
    /// records it on the candidate's breaker; returns the backends it used (more than one when a hop below
    /// failed over). At the entry, an attempt the masking policy covers carries the masked request and its answer
    /// is restored on the way to the client.
    /// </summary>
    private async Task<int> ServeAsync(
        ChatRequest request, RouteCandidate candidate, ForwardingContext call, IChatSink sink, Protection.EntryProtection? protection, CancellationToken cancellationToken)
    {
        if (protection is not null)
        {
            (request, sink) = protection.For(request, candidate, sink);
        }

        int used;
        if (candidate.IsLocal)
        {
            await host.Local!.ChatAsync(request, candidate, RoutePlanner.LocalRoute(call, candidate), sink, call.ReceivedAt, cancellationToken).ConfigureAwait(false);
            used = 1;
        }
        else
        {
            used = await forwarder.ChatAsync(request, candidate, sink, call, cancellationToken).ConfigureAwait(false);
        }

        await AttemptServedAsync(candidate).ConfigureAwait(false);
        return used;
    }

    private async Task AttemptServedAsync(RouteCandidate candidate)
    {
        await breakers.RecordSuccessAsync(candidate.Key).ConfigureAwait(false);
        metrics.Attempt(candidate, AttemptResult.Served);
    }

    /// <summary>
    /// Whether an attempt's failure is only the client leaving once it had the answer: the final frame went out
    /// (<see cref="ChatOutput.Finished"/>), then the client cancelled the call, before its deadline, and what failed
    /// is the cancellation itself (the backend call's or the forward's, or the write's).
    /// </summary>
    private bool ClientLeftWithTheAnswer(ChatOutput output, CallTerms context, Exception error) =>
        output.Finished && context.Cancelled.IsCancellationRequested && context.Deadline > time.GetUtcNow().UtcDateTime
        && error is OperationCanceledException or IOException or RpcException { StatusCode: StatusCode.Cancelled };

    /// <summary>A failed attempt the next one takes over from: before the first token (a failover) or after it (a continuation).</summary>
    private readonly record struct Move(RouteCandidate Failed, StatusCode Status, bool Continues);

    /// <summary>Counts a failover or continuation as the attempt that takes over begins, and marks it on the request's span.</summary>
    private void Moved(Move move, System.Diagnostics.Activity? span, ChatOutput output)
    {
        if (move.Continues)
        {
            metrics.Continuation();
            RouterSpans.Continuation(span, move.Failed, output.DeliveredCharacters);
        }
        else
        {
            metrics.Failover(move.Status);
            RouterSpans.Failover(span, move.Failed, move.Status);
        }
    }

    /// <summary>Accounts for a failed attempt and records it on the breaker of what failed here.</summary>
    private async Task FailedAsync(AttemptLedger ledger, RouteCandidate candidate, RpcException error)
    {
        metrics.Attempt(candidate, AttemptResult.Failed);
        await breakers.RecordFailureAsync(ledger.Fail(candidate, error), error).ConfigureAwait(false);
    }



    /// <summary>
    /// Races the candidates; the first to yield a token wins and the rest are cancelled at once. When every
    /// racer fails before a token, the failures are reported together; a winner that fails later ends the
    /// stream with its status (and the partial flag). Each racer is one attempt, with no failover below it.
    /// </summary>
    private async Task BroadcastAsync(
        ChatRequest request, List<RouteCandidate> racers, ForwardingContext call, ChatOutput output, AttemptLedger ledger, Protection.EntryProtection? protection, CancellationToken cancellationToken)
    {
        // The answer guardrails read the winner's text only, after the race: a loser's text never reaches the client.
        using var race = new BroadcastRace(protection?.Answer?.For(output) ?? output, racers.Count, cancellationToken);
        protection = protection?.Masking is null ? null : protection with { Answer = null };
        async Task<(RouteCandidate Candidate, RpcException? Error)> RaceAsync(RouteCandidate candidate, int index)
        {
            using var attempt = RouterSpans.Attempt(candidate, (uint)index + 1);
            try
            {
                await ServeAsync(request, candidate, call with { AttemptsBefore = (uint)index, AttemptsLeft = 1 }, race.Sink(index), protection, race.Token(index)).ConfigureAwait(false);
                return (candidate, null);
            }
            catch (OperationCanceledException) when (race.Token(index).IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                // Lost the race: cancelled at once by the winner.
                return (candidate, null);
            }
            catch (RpcException ex)
            {
                RouterSpans.Failed(attempt, ex.StatusCode, ex.Status.Detail);
                return (candidate, ex);
            }
        }

        var outcomes = await Task.WhenAll(racers.Select(RaceAsync)).ConfigureAwait(false);
        ledger.Raced(outcomes.Count(o => o.Error is null));
        foreach (var (candidate, error) in outcomes)
        {
            if (error is not null)
            {
                await FailedAsync(ledger, candidate, error).ConfigureAwait(false);
            }
        }

        cancellationToken.ThrowIfCancellationRequested();
        if (race.Winner >= 0)
        {
            output.Served = racers[race.Winner];
            if (outcomes[race.Winner].Error is { } failed)
            {
                throw failed;
            }

            metrics.Routed(racers[race.Winner], entry: true);
            return;
        }

        throw ledger.Exhausted(request.Model);
    }

    /// <summary>The request a continuing candidate gets: the original conversation plus the partial answer and who wrote it.</summary>
    private static ChatRequest Continuation(ChatRequest request, ChatOutput output)
    {
        var continuation = request.Clone();
        continuation.Continuation = new Continuation
        {
            PartialText = output.DeliveredText,
            PreviousNode = output.CommittedRoute?.ServingNode ?? "",
            PreviousBackend = output.CommittedRoute?.Backend ?? "",
        };
        return continuation;
    }

    private Task BackoffAsync(CancellationToken cancellationToken) =>
        Task.Delay(TimeSpan.FromMilliseconds(10 + (random() * 30)), time, cancellationToken);

    [LoggerMessage(EventId = 1001, Level = LogLevel.Debug, Message = "Request {RequestId} attempt {Attempt}: model {Model} on {Node} backend {Backend}")]
    private static partial void LogAttempt(ILogger logger, string requestId, uint attempt, string model, string node, string backend);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Debug, Message = "Request {RequestId} served by {Node} in {ElapsedMs:0.0} ms")]
    private static partial void LogServed(ILogger logger, string requestId, string node, double elapsedMs);

    [LoggerMessage(EventId = 1003, Level = LogLevel.Debug, Message = "Request {RequestId} ended early: {Reason}; backend request cancelled")]
    private static partial void LogCancelled(ILogger logger, string requestId, string reason);

    [LoggerMessage(EventId = 1004, Level = LogLevel.Warning, Message = "Request {RequestId} failed with {StatusCode}: {Detail}")]
    private static partial void LogFailed(ILogger logger, string requestId, StatusCode statusCode, string detail);

    [LoggerMessage(EventId = 1007, Level = LogLevel.Debug, Message = "Request {RequestId} replays the answer of idempotency key {Key}")]
    private static partial void LogReplayed(ILogger logger, string requestId, string key);

    [LoggerMessage(EventId = 1006, Level = LogLevel.Warning, Message = "Request {RequestId} attempt {Attempt} on {Node} failed after {Characters} characters: {Detail}; the next candidate continues the answer")]
    private static partial void LogContinuing(ILogger logger, string requestId, uint attempt, string node, long characters, string detail);

    [LoggerMessage(EventId = 1005, Level = LogLevel.Warning, Message = "Request {RequestId} attempt {Attempt} on {Node} failed before the first token with {StatusCode}: {Detail}; trying the next candidate")]
    private static partial void LogAttemptFailed(ILogger logger, string requestId, uint attempt, string node, StatusCode statusCode, string detail);
}
