using Grpc.Core;
using LlmRouter.Common.Chat;
using LlmRouter.Common.Configuration;
using LlmRouter.Common.Hosting;
using LlmRouter.Common.Protection;
using LlmRouter.Common.Telemetry;
using LlmRouter.V1;
using Microsoft.Extensions.Logging;

namespace LlmRouter.Common.Pipeline;

/// <summary>A guard model asked about a request (issue 14, item 3): routed like any request, from the entry node, within a deadline.</summary>
internal sealed partial class ChatPipeline
{
    /// <summary>
    /// Asks the guardrail's guard model about <paramref name="request"/> through this host's own routing: ranked,
    /// masked where the policy says, failed over and forwarded like any chat, under the request's tenant and policy
    /// labels (<see cref="GuardModelVerdicts"/>), with its own route log entries (the request's id with a
    /// <c>-guard-NAME</c> suffix). Its deadline is the guardrail's, within the request's own. The verdict: the
    /// guardrail fired (unsafe), nothing (safe), or an unchecked verdict when it could not answer: a block when the
    /// guardrail fails closed, else recorded and let through. Quotas do not count it: the operator asked it.
    /// </summary>
    /// <exception cref="OperationCanceledException">The client left or the request's own deadline passed.</exception>
    private async Task<RequestGuardrails.Fired?> AskGuardModelAsync(GuardrailConfig guardrail, ChatRequest request, Arrival arrival, HostSnapshot snapshot, ServerCallContext context)
    {
        var guard = guardrail.GuardModel!;
        var question = GuardModelVerdicts.Question(guard, request);
        var asking = arrival with { RequestId = Protocol.RequestIds.Derived(arrival.RequestId, "guard-" + guardrail.Name) };
        var answer = new Ingress.AnswerCollector();
        var output = new ChatOutput(answer, keepText: false, time);
        var account = new RequestAccount();
        var askedAt = time.GetTimestamp();
        var deadline = time.GetUtcNow().UtcDateTime + guard.Deadline;
        using var timer = new CancellationTokenSource(guard.Deadline, time);
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, timer.Token);
        // Within the guardrail's deadline, and the request's own when that is sooner (then it is the one that bounds).
        var boundByRequest = context.Deadline <= deadline;
        try
        {
            var terms = new CallTerms(boundByRequest ? context.Deadline : deadline, bounded.Token, new Metadata());
            await RouteAsync(question, output, continues: false, terms, asking, snapshot, askedAt, span: null, account, asksGuard: true).ConfigureAwait(false);
            metrics.RequestEnded(true, question.Mode, RequestOutcome.Whole, StatusCode.OK, time.GetElapsedTime(askedAt));
            recorder.Chat(question, asking, output, account.Masking, account.Attempts, RequestOutcome.Whole, StatusCode.OK, askedAt, []);
        }
        catch (Exception ex)
        {
            var status = ex switch
            {
                RpcException rpc => rpc.StatusCode,
                OperationCanceledException when context.CancellationToken.IsCancellationRequested && !boundByRequest => StatusCode.Cancelled,
                OperationCanceledException => StatusCode.DeadlineExceeded,
                _ => StatusCode.Internal,
            };
            metrics.RequestEnded(true, question.Mode, RequestOutcome.Failed, status, time.GetElapsedTime(askedAt));
            recorder.Chat(question, asking, output, account.Masking, account.Attempts, RequestOutcome.Failed, status, askedAt, []);
            if (context.CancellationToken.IsCancellationRequested || ex is not (RpcException or OperationCanceledException))
            {
                throw;
            }

            // The deadline passes first where the question is being answered (each hop gets it), or here.
            return Unchecked(guardrail, status != StatusCode.DeadlineExceeded ? $"guard model '{guard.Model}': {status}: {((RpcException)ex).Status.Detail}"
                : boundByRequest ? $"the request's own deadline passed before guard model '{guard.Model}' answered"
                : $"guard model '{guard.Model}' gave no verdict within its deadline of {guard.Deadline.TotalMilliseconds:0} ms");
        }

        try
        {
            return GuardModelVerdicts.Read(answer.Text) is { } categories
                ? new RequestGuardrails.Fired(guardrail.Name, guardrail.Verdict, "guard_model", $"{guard.Model}: unsafe{(categories.Length > 0 ? " " + categories : "")}")
                : null;
        }
        catch (FormatException ex)
        {
            return Unchecked(guardrail, $"guard model '{guard.Model}': {ex.Message}");
        }
    }

    private RequestGuardrails.Fired Unchecked(GuardrailConfig guardrail, string failure)
    {
        LogGuardUnchecked(logger, guardrail.Name, failure, guardrail.GuardModel!.FailClosed ? "refused" : "let through");
        return new RequestGuardrails.Fired(guardrail.Name, guardrail.GuardModel!.FailClosed ? GuardrailVerdict.Block : GuardrailVerdict.Flag, "guard_model", failure, Unchecked: true);
    }

    [LoggerMessage(EventId = 1008, Level = LogLevel.Warning, Message = "Guardrail {Guardrail} could not check a request: {Failure}; the request is {Outcome} (on_failure)")]
    private static partial void LogGuardUnchecked(ILogger logger, string guardrail, string failure, string outcome);
}
