using Grpc.Core;
using LlmRouter.Common.Chat;
using LlmRouter.Common.Pipeline;
using LlmRouter.Common.Protection;
using LlmRouter.Common.Telemetry;
using LlmRouter.V1;

namespace LlmRouter.Common.Audit;

/// <summary>
/// Writes each hop's route log entry from the pipeline's account of a request (issue 14): at the end of every chat
/// and embedding on every node and integrator it touched, served or failed, and for a call refused before routing.
/// Never the prompt or the answer: counts, names and timings.
/// </summary>
internal sealed class RouteRecorder(IRouterHost host, RouteLog log, TimeProvider time)
{
    /// <summary>A chat that ended here.</summary>
    /// <param name="arrival">Null for a call refused before its arrival was read.</param>
    /// <param name="output">What the client was sent; null for a call refused before routing.</param>
    /// <param name="guardrails">The guardrails that fired at the entry.</param>
    public void Chat(
        ChatRequest request, Arrival? arrival, ChatOutput? output, RequestMasking? masking, int attempts, RequestOutcome outcome, StatusCode status, long receivedAt,
        IReadOnlyList<RequestGuardrails.Fired> guardrails) =>
        log.Append(Entry("chat", request.Model, request.PolicyLabels, arrival, masking, attempts, outcome, status, receivedAt) with
        {
            Guardrails = [.. guardrails.Select(g => g.ToString())],
            Policies = [.. MaskingPolicy(masking), .. guardrails.Select(g => "guardrail:" + g.Guardrail)],
            ServingNode = output?.CommittedRoute?.ServingNode ?? "",
            Backend = output?.CommittedRoute?.Backend ?? "",
            ServedModel = output?.CommittedRoute?.Model ?? "",
            InputTokens = output?.Usage?.InputTokens ?? 0,
            OutputTokens = output?.Usage?.OutputTokens ?? 0,
            FirstTokenMs = output is { CommittedAt: > 0 } ? time.GetElapsedTime(receivedAt, output.CommittedAt).TotalMilliseconds : 0,
        });

    /// <summary>A chat answered from an idempotency key's stored answer: no attempt, the stored answer's end as its status.</summary>
    public void Replayed(ChatRequest request, Arrival arrival, StatusCode status, long receivedAt, IReadOnlyList<RequestGuardrails.Fired> guardrails) =>
        log.Append(Entry("chat", request.Model, request.PolicyLabels, arrival, null, 0, status == StatusCode.OK ? RequestOutcome.Whole : RequestOutcome.Failed, status, receivedAt) with
        {
            Outcome = status == StatusCode.OK ? "replayed" : "failed",
            Guardrails = [.. guardrails.Select(g => g.ToString())],
            Policies = ["idempotent-replay", .. guardrails.Select(g => "guardrail:" + g.Guardrail)],
        });

    /// <summary>An embedding that ended here.</summary>
    public void Embed(EmbedRequest request, Arrival? arrival, EmbedResponse? response, RequestMasking? masking, int attempts, StatusCode status, long receivedAt) =>
        log.Append(Entry("embeddings", request.Model, request.PolicyLabels, arrival, masking, attempts, status == StatusCode.OK ? RequestOutcome.Whole : RequestOutcome.Failed, status, receivedAt) with
        {
            ServingNode = response?.Route?.ServingNode ?? "",
            Backend = response?.Route?.Backend ?? "",
            ServedModel = response?.Route?.Model ?? "",
            InputTokens = response?.Usage?.InputTokens ?? 0,
        });

    private static readonly IReadOnlyDictionary<string, int> NothingMasked = new Dictionary<string, int>();

    private static string[] MaskingPolicy(RequestMasking? masking) => masking is { Applied: true } ? ["masking"] : [];

    private RouteLogEntry Entry(
        string operation, string model, IEnumerable<string> labels, Arrival? arrival, RequestMasking? masking, int attempts, RequestOutcome outcome, StatusCode status, long receivedAt)
    {
        var masked = masking?.MaskedByLabel ?? NothingMasked;
        return new RouteLogEntry
        {
            RequestId = arrival?.RequestId ?? "",
            Time = time.GetUtcNow(),
            Operation = operation,
            Hop = arrival is null ? "unknown" : arrival.Forwarded ? "forwarded" : "entry",
            Tenant = arrival?.Tenant.Name ?? "",
            Model = model,
            Path = [.. arrival?.Path ?? [], host.Id],
            Labels = [.. labels.Concat(arrival?.Tenant.Labels ?? []).Distinct(StringComparer.Ordinal)],
            Policies = MaskingPolicy(masking),
            Masked = masked,
            Outcome = outcome switch
            {
                RequestOutcome.Whole => "whole",
                RequestOutcome.Continued => "continued",
                _ => "failed",
            },
            Status = RouterMetrics.StatusName(status),
            Attempts = attempts,
            TotalMs = time.GetElapsedTime(receivedAt).TotalMilliseconds,
        };
    }
}
