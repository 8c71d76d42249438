using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using LlmRouter.Common.Chat;
using LlmRouter.Common.Configuration;
using LlmRouter.Common.Telemetry;
using LlmRouter.Node.Admission;
using LlmRouter.Node.Backends;
using LlmRouter.Node.Backends.Http;
using LlmRouter.Node.Catalog;
using LlmRouter.V1;
using Microsoft.Extensions.AI;
using ChatResponse = LlmRouter.V1.ChatResponse;

namespace LlmRouter.Node.Chat;

/// <summary>
/// Serves one chat on one local backend: waits for an admission slot, then relays every update to the
/// client the moment the backend yields it (nothing is buffered). A watchdog ends a backend that sends
/// nothing for first_token_timeout (before text) or stall_timeout (between tokens). The backend call runs
/// on the caller's token, so a client that leaves or a deadline that passes cancels it at once.
/// </summary>
internal sealed class LocalChatExecutor(TimeProvider time, BackendMetrics metrics, RouterMetrics routerMetrics)
{
    public async Task ServeAsync(
        ChatRequest request,
        LocalModel target,
        RouteInfo route,
        IChatSink output,
        long receivedAt,
        CancellationToken cancellationToken)
    {
        var backend = target.Backend;
        var refusal = ProviderResponseObserver.BeginScope();
        var call = new BackendCall("chat", BackendKindNames.Name(backend.Config.Kind), target.Model.Id, backend.Id);
        AdmissionLease? slot = null;
        long calledAt = 0;
        var answered = false;
        try
        {
            var admissionStarted = time.GetTimestamp();
            var entering = EnterAsync(backend, cancellationToken);
            if (entering.IsCompleted)
            {
                // A free slot (or a refusal, which the attempt's span holds): no wait to show in a span of its own.
                slot = await entering.ConfigureAwait(false);
            }
            else
            {
                using (RouterSpans.Admission(backend.Id))
                {
                    slot = await entering.ConfigureAwait(false);
                }
            }

            var queueWait = time.GetElapsedTime(admissionStarted);
            metrics.AdmissionWaited(backend.Id, queueWait);
            output.Route(route);

            calledAt = time.GetTimestamp();
            RelayResult result;
            using (var span = RouterSpans.BackendCall(call, target.Model.UpstreamModel))
            {
                try
                {
                    result = await RelayAsync(request, target, output, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    span?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, ex.Message);
                    throw;
                }

                RouterSpans.Answered(span, (long)(result.Usage?.InputTokens ?? 0), (long)(result.Usage?.OutputTokens ?? 0), result.FinishReason,
                    result.FirstTokenAt == 0 ? null : result.TimeToFirstToken);
            }

            var total = time.GetElapsedTime(receivedAt);
            backend.Stats.RecordSuccess(result.TimeToFirstToken, result.OutputTokens, result.Generation, time.GetTimestamp());
            Record(call, target.Model, result, time.GetElapsedTime(calledAt));
            answered = true;

            var completed = new ChatCompleted
            {
                FinishReason = result.FinishReason,
                Usage = result.Usage,
            };
            var firstToken = result.FirstTokenAt == 0 ? total : time.GetElapsedTime(receivedAt, result.FirstTokenAt);
            if (result.FirstTokenAt != 0 && route.Attempt == 1)
            {
                // What this node added before the backend's first token: routing, admission's own work, the call
                // (a first attempt only: after a failover, the time since arrival holds the earlier attempts).
                routerMetrics.HopAdded(serve: true, firstToken - queueWait - result.TimeToFirstToken);
            }

            completed.Hops.Add(new HopTiming
            {
                Node = route.ServingNode,
                Backend = backend.Id,
                QueueWait = Duration.FromTimeSpan(queueWait),
                TimeToFirstToken = Duration.FromTimeSpan(firstToken),
                Total = Duration.FromTimeSpan(total),
            });
            await output.CompletedAsync(new ChatResponse { Completed = completed }, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (cancellationToken.IsCancellationRequested && ex is not RpcException)
        {
            // The client left, its deadline passed or the node is shutting down. Whatever the write or the
            // backend threw on the way out, the cause is the cancellation, not the backend.
            throw new OperationCanceledException("the call ended before the answer was complete", ex, cancellationToken);
        }
        catch (Exception ex)
        {
            // A request the backend refused as bad input (a schema the simulator cannot satisfy) is not its failure.
            if (slot is not null && ex is not RpcException { StatusCode: StatusCode.InvalidArgument })
            {
                backend.Stats.RecordFailure();
            }

            var error = BackendErrors.ToRpcException(ex, backend.Id, refusal.Value);
            // A backend call that answered and was recorded so is not a failed call too (writing the last frame failed).
            if (calledAt != 0 && !answered)
            {
                metrics.Failed(call, time.GetElapsedTime(calledAt), error.StatusCode);
            }

            throw error;
        }
        finally
        {
            slot?.Dispose();
        }
    }

    /// <summary>A slot of the backend; a refusal (slots and queue full) is counted before it goes on as RESOURCE_EXHAUSTED.</summary>
    private async ValueTask<AdmissionLease> EnterAsync(Backend backend, CancellationToken cancellationToken)
    {
        try
        {
            return await backend.Admission.EnterAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (AdmissionRejectedException)
        {
            metrics.AdmissionRefused(backend.Id);
            throw;
        }
    }

    /// <summary>The call's GenAI metrics and its cost, from the model's price and the usage the backend reported.</summary>
    private void Record(BackendCall call, ModelConfig model, RelayResult result, TimeSpan duration)
    {
        var input = (long)(result.Usage?.InputTokens ?? 0);
        var output = (long)(result.Usage?.OutputTokens ?? 0);
        var cost = ((input * model.InputPricePerMillion) + (output * model.OutputPricePerMillion)) / 1_000_000;
        metrics.Served(call, duration, result.FirstTokenAt == 0 ? null : result.TimeToFirstToken, result.Generation, input, output, cost);
    }

    private async Task<RelayResult> RelayAsync(
        ChatRequest request, LocalModel target, IChatSink output, CancellationToken cancellationToken)
    {
        var result = new RelayResult();
        var config = target.Backend.Config;
        var chat = target.Backend.Chat(target.Model);
        var toolCalls = new ToolCallDeltas();

        using var watchdog = new SilenceWatchdog(time, config.FirstTokenTimeout, config.StallTimeout);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, watchdog.Token);

        var started = time.GetTimestamp();
        long firstTokenAt = 0;
        try
        {
            await foreach (var update in chat.StreamAsync(request, linked.Token).ConfigureAwait(false))
            {
                var text = update.Text;
                if (text.Length > 0)
                {
                    if (firstTokenAt == 0)
                    {
                        firstTokenAt = time.GetTimestamp();
                    }

                    // The time spent writing to a slow client is not the backend's silence: pause the watchdog.
                    watchdog.Pause();
                    await output.DeltaAsync(new ChatResponse { Delta = new TextDelta { Text = text } }, flush: true, cancellationToken).ConfigureAwait(false);
                    watchdog.Resume();
                }

                var calls = toolCalls.Read(update);
                for (var i = 0; i < calls.Count; i++)
                {
                    if (firstTokenAt == 0)
                    {
                        firstTokenAt = time.GetTimestamp();
                    }

                    watchdog.Pause();
                    await output.DeltaAsync(new ChatResponse { ToolCall = calls[i] }, flush: i == calls.Count - 1, cancellationToken).ConfigureAwait(false);
                    watchdog.Resume();
                }

                if (update.FinishReason is { } reason)
                {
                    result.FinishReason = ChatConversion.FinishReason(reason);
                }

                foreach (var usage in update.Contents.OfType<UsageContent>())
                {
                    result.Usage = new TokenUsage
                    {
                        InputTokens = (ulong)Math.Max(0, usage.Details.InputTokenCount ?? 0),
                        OutputTokens = (ulong)Math.Max(0, usage.Details.OutputTokenCount ?? 0),
                        TotalTokens = (ulong)Math.Max(0, usage.Details.TotalTokenCount ?? 0),
                    };
                }
            }
        }
        catch (OperationCanceledException) when (watchdog.Fired && !cancellationToken.IsCancellationRequested)
        {
            throw firstTokenAt == 0
                ? new BackendStalledException($"no token within first_token_timeout {config.FirstTokenTimeout.TotalSeconds:0.###}s")
                : new BackendStalledException($"no token for stall_timeout {config.StallTimeout.TotalSeconds:0.###}s after the stream started");
        }

        // Some OpenAI-compatible servers end a tool call with finish_reason "stop": a client's agent loop would
        // then take the answer as final and never run the tool.
        if (toolCalls.Count > 0 && result.FinishReason == FinishReason.Stop)
        {
            result.FinishReason = FinishReason.ToolCalls;
        }

        var finished = time.GetTimestamp();
        result.FirstTokenAt = firstTokenAt;
        result.TimeToFirstToken = time.GetElapsedTime(started, firstTokenAt == 0 ? finished : firstTokenAt);
        result.Generation = firstTokenAt == 0 ? TimeSpan.Zero : time.GetElapsedTime(firstTokenAt, finished);
        result.OutputTokens = (int)(result.Usage?.OutputTokens ?? 0);
        return result;
    }

    /// <summary>
    /// Cancels when the backend stays silent: first_token_timeout before the first token, stall_timeout after
    /// each one, not counting the time spent writing to the client. A token only records the time; the one
    /// timer is re-armed when it fires, not per token (two timer changes per token cost more than the write).
    /// </summary>
    private sealed class SilenceWatchdog : IDisposable
    {
        private readonly CancellationTokenSource _fired = new();
        private readonly TimeProvider _time;
        private readonly TimeSpan _stallTimeout;
        private readonly ITimer _timer;
        private long _limitTicks;
        private long _lastActivity;
        private volatile bool _paused;

        public SilenceWatchdog(TimeProvider time, TimeSpan firstTokenTimeout, TimeSpan stallTimeout)
        {
            _time = time;
            _stallTimeout = stallTimeout;
            _limitTicks = firstTokenTimeout.Ticks;
            _lastActivity = time.GetTimestamp();
            _timer = time.CreateTimer(static state => ((SilenceWatchdog)state!).Check(), this, firstTokenTimeout, Timeout.InfiniteTimeSpan);
        }

        public CancellationToken Token => _fired.Token;

        public bool Fired => _fired.IsCancellationRequested;

        public void Pause() => _paused = true;

        public void Resume()
        {
            Volatile.Write(ref _lastActivity, _time.GetTimestamp());
            _paused = false;
            if (Interlocked.Exchange(ref _limitTicks, _stallTimeout.Ticks) != _stallTimeout.Ticks)
            {
                // The first token: the timer still waits out first_token_timeout, often far longer than
                // stall_timeout, so it is brought forward once; after that it only moves when it fires.
                Rearm(_stallTimeout);
            }
        }

        public void Dispose()
        {
            _timer.Dispose();
            _fired.Dispose();
        }

        private void Check()
        {
            var limit = TimeSpan.FromTicks(Volatile.Read(ref _limitTicks));
            if (_paused)
            {
                Rearm(limit);
                return;
            }

            var silent = _time.GetElapsedTime(Volatile.Read(ref _lastActivity));
            if (silent >= limit)
            {
                try
                {
                    _fired.Cancel();
                }
                catch (ObjectDisposedException)
                {
                    // The relay ended meanwhile.
                }

                return;
            }

            Rearm(limit - silent);
        }

        private void Rearm(TimeSpan due)
        {
            try
            {
                _timer.Change(due, Timeout.InfiniteTimeSpan);
            }
            catch (ObjectDisposedException)
            {
                // The relay ended meanwhile.
            }
        }
    }

    private sealed class RelayResult
    {
        public FinishReason FinishReason { get; set; } = FinishReason.Stop;

        public TokenUsage? Usage { get; set; }

        /// <summary>The backend's own time to first token, from the request to it.</summary>
        public TimeSpan TimeToFirstToken { get; set; }

        /// <summary>Timestamp of the first token; 0 when the backend sent no text.</summary>
        public long FirstTokenAt { get; set; }

        public TimeSpan Generation { get; set; }

        public int OutputTokens { get; set; }
    }
}
