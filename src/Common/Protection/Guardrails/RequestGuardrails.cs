using Grpc.Core;
using LlmRouter.Common.Configuration;
using LlmRouter.V1;

namespace LlmRouter.Common.Protection;

/// <summary>
/// The guardrails a request meets at its entry node (DESIGN.md section 15, issue 14 item 3), in the order the mesh
/// file lists them. Each one checks the text callers wrote (user messages, and tool results, where an injection
/// hidden in a fetched page arrives); the system prompt is the operator's, and the model's own turns are not the
/// caller's. A guardrail applies to the tenants and labels it names, or to everyone. A block ends the request with
/// PERMISSION_DENIED naming the guardrail and what it found, and no guardrail after it is asked. A flag is recorded
/// (route log, metrics) and the request goes on. A mask replaces what the guardrail found with
/// <c>[MASKED:name]</c> in what goes on (the guardrails after it see the masked text). A guard model is asked through
/// the mesh (<see cref="GuardModelVerdicts"/>). Hops below the entry do not check again.
/// </summary>
internal static class RequestGuardrails
{
    /// <summary>A guardrail that fired: its name and verdict, and the rule and the text that tripped it.</summary>
    /// <param name="Unchecked">A guard model could not give a verdict (its failure is in <paramref name="Matched"/>); the verdict is what its <c>on_failure</c> says.</param>
    /// <param name="Answer">An answer guardrail's: what it matched is not kept.</param>
    public sealed record Fired(string Guardrail, GuardrailVerdict Verdict, string Rule, string Matched, bool Unchecked = false, bool Answer = false)
    {
        /// <summary>How the route log and the metrics name the verdict: block, flag, mask, or unchecked (a guard model that could not answer, let through).</summary>
        public string VerdictName => Unchecked && Verdict != GuardrailVerdict.Block ? "unchecked" : Verdict switch
        {
            GuardrailVerdict.Block => "block",
            GuardrailVerdict.Flag => "flag",
            _ => "mask",
        };

        /// <summary>How the route log names it: <c>injection:block</c>.</summary>
        public override string ToString() => $"{Guardrail}:{VerdictName}";
    }

    /// <summary>Asks the guard model of a guardrail about a request; the verdict, or the failure that kept it from one.</summary>
    public delegate Task<Fired?> AskGuardModel(GuardrailConfig guardrail, ChatRequest request, CancellationToken cancellationToken);

    /// <summary>
    /// Runs the request guardrails that apply, in order, until one blocks; every one that fired is added to
    /// <paramref name="fired"/> as it fires (so a request that ends meanwhile still has them). Returns the request as
    /// it goes on, with what mask guardrails found replaced.
    /// </summary>
    public static async Task<ChatRequest> ScreenAsync(
        IReadOnlyList<GuardrailConfig> guardrails, ChatRequest request, TenantConfig tenant, AskGuardModel askGuardModel, List<Fired> fired, CancellationToken cancellationToken)
    {
        foreach (var guardrail in guardrails.Where(g => g.On == GuardrailPhase.Request && AppliesTo(g, request.PolicyLabels, tenant)))
        {
            var found = guardrail.GuardModel is not null
                ? await askGuardModel(guardrail, request, cancellationToken).ConfigureAwait(false)
                : guardrail.Verdict == GuardrailVerdict.Mask ? Mask(guardrail, ref request) : Find(guardrail, request);
            if (found is not null)
            {
                fired.Add(found);
                if (found.Verdict == GuardrailVerdict.Block)
                {
                    break;
                }
            }
        }

        return request;
    }

    /// <summary>
    /// The refusal for a blocking guardrail: PERMISSION_DENIED naming it, its rule and what it found; UNAVAILABLE
    /// when a guard model could not answer and its guardrail fails closed (the request may pass once it can).
    /// </summary>
    public static RpcException Blocked(Fired fired) => fired switch
    {
        { Unchecked: true } => new(new Status(StatusCode.Unavailable, $"guardrail '{fired.Guardrail}' could not check the request ({fired.Matched}) and its on_failure is block; retry later")),
        // The answer's text is what the guardrail keeps from the client: not repeated here.
        { Answer: true } => new(new Status(StatusCode.PermissionDenied, $"guardrail '{fired.Guardrail}' stopped the answer: its rule '{fired.Rule}' matched the answer's text")),
        _ => new(new Status(StatusCode.PermissionDenied, $"guardrail '{fired.Guardrail}' blocked the request: its rule '{fired.Rule}' matched \"{fired.Matched}\"")),
    };

    /// <summary>Whether a guardrail applies to a request of this tenant with these policy labels (its own; the tenant's are added).</summary>
    public static bool AppliesTo(GuardrailConfig guardrail, IEnumerable<string> requestLabels, TenantConfig tenant) =>
        (guardrail.Tenants.Count == 0 && guardrail.Labels.Count == 0)
        || guardrail.Tenants.Contains(tenant.Name, StringComparer.Ordinal)
        || guardrail.Labels.Any(label => requestLabels.Contains(label) || tenant.Labels.Contains(label, StringComparer.Ordinal));

    private static Fired? Find(GuardrailConfig guardrail, ChatRequest request)
    {
        foreach (var text in CallerTexts(request))
        {
            foreach (var found in GuardrailFinder.FindAll(guardrail, text))
            {
                return new Fired(guardrail.Name, guardrail.Verdict, found.Rule, GuardrailFinder.Excerpt(text, found));
            }
        }

        return null;
    }

    /// <summary>Replaces what the guardrail finds in the caller's texts; the request is copied only when something was.</summary>
    private static Fired? Mask(GuardrailConfig guardrail, ref ChatRequest request)
    {
        var first = Find(guardrail, request);
        if (first is null)
        {
            return null;
        }

        var masked = request.Clone();
        var count = 0;
        string MaskText(string text)
        {
            var (result, replaced) = GuardrailFinder.MaskAll(guardrail, text);
            count += replaced;
            return result;
        }

        foreach (var message in masked.Messages.Where(m => m.Role is Role.User or Role.Tool))
        {
            // A tool's result is often JSON: masked value by value, so it stays JSON.
            Func<string, string> mask = message.Role == Role.Tool ? text => JsonStrings.Map(text, MaskText) : MaskText;
            message.Content = mask(message.Content);
            foreach (var part in message.Parts.Where(p => p.PartCase == ContentPart.PartOneofCase.Text))
            {
                part.Text = mask(part.Text);
            }
        }

        request = masked;
        return first with { Matched = $"{count} match{(count == 1 ? "" : "es")}, the first \"{first.Matched}\"" };
    }

    /// <summary>What the caller wrote: user messages and tool results, their text and text parts (a continuation's partial text is the model's, not checked).</summary>
    public static IEnumerable<string> CallerTexts(ChatRequest request)
    {
        foreach (var message in request.Messages.Where(m => m.Role is Role.User or Role.Tool))
        {
            if (message.Content.Length > 0)
            {
                yield return Readable(message.Role, message.Content);
            }

            foreach (var part in message.Parts.Where(p => p.PartCase == ContentPart.PartOneofCase.Text && p.Text.Length > 0))
            {
                yield return Readable(message.Role, part.Text);
            }
        }
    }

    /// <summary>A message's text as it reads: a tool's JSON result with its escapes undone (<c>\u0040</c> is an <c>@</c>), so no check is hidden by them.</summary>
    public static string Readable(Role role, string text) => role == Role.Tool ? JsonStrings.Map(text, value => value) : text;
}
