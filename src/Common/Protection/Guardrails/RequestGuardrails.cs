using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using Grpc.Core;
using LlmRouter.Common.Configuration;
using LlmRouter.V1;

namespace LlmRouter.Common.Protection;

/// <summary>
/// The guardrails a request meets at its entry node (DESIGN.md section 15, issue 14 item 3), in the order the mesh
/// file lists them. Each one checks the text callers wrote (user messages, and tool results, where an injection
/// hidden in a fetched page arrives); the system prompt is the operator's, and the model's own turns are not the
/// caller's. A guardrail applies to the tenants and labels it names, or to everyone. A block ends the request with
/// PERMISSION_DENIED naming the guardrail and what it found. A flag is recorded (route log, metrics) and the request
/// goes on. Hops below the entry do not check again.
/// </summary>
internal static class RequestGuardrails
{
    /// <summary>A guardrail that fired: its name and verdict, and the rule and the text that tripped it.</summary>
    public sealed record Fired(string Guardrail, GuardrailVerdict Verdict, string Rule, string Matched)
    {
        /// <summary>How the route log names it: <c>injection:block</c>.</summary>
        public override string ToString() => $"{Guardrail}:{(Verdict == GuardrailVerdict.Block ? "block" : "flag")}";
    }

    private static readonly ConditionalWeakTable<GuardrailConfig, Regex> Patterns = [];

    /// <summary>Every guardrail that fires for the request, in the mesh file's order.</summary>
    public static List<Fired> Check(IReadOnlyList<GuardrailConfig> guardrails, ChatRequest request, TenantConfig tenant)
    {
        var fired = new List<Fired>();
        if (guardrails.Count == 0)
        {
            return fired;
        }

        var texts = CallerTexts(request).Where(t => t.Length > 0).ToList();
        foreach (var guardrail in guardrails.Where(g => AppliesTo(g, request, tenant)))
        {
            foreach (var text in texts)
            {
                if (Find(guardrail, text) is { } found)
                {
                    fired.Add(new Fired(guardrail.Name, guardrail.Verdict, found.Rule, found.Matched));
                    break;
                }
            }
        }

        return fired;
    }

    /// <summary>The refusal for a blocking guardrail: PERMISSION_DENIED naming it, its rule and what it found.</summary>
    public static RpcException Blocked(Fired fired) => new(new Status(StatusCode.PermissionDenied,
        $"guardrail '{fired.Guardrail}' blocked the request: its rule '{fired.Rule}' matched \"{fired.Matched}\""));

    private static bool AppliesTo(GuardrailConfig guardrail, ChatRequest request, TenantConfig tenant) =>
        (guardrail.Tenants.Count == 0 && guardrail.Labels.Count == 0)
        || guardrail.Tenants.Contains(tenant.Name, StringComparer.Ordinal)
        || guardrail.Labels.Any(label => request.PolicyLabels.Contains(label) || tenant.Labels.Contains(label, StringComparer.Ordinal));

    private static (string Rule, string Matched)? Find(GuardrailConfig guardrail, string text)
    {
        if (guardrail.Check == "pattern")
        {
            var pattern = Patterns.GetValue(guardrail, static g => new Regex(g.Pattern!, MaskingRecognizers.CustomOptions));
            return pattern.Match(text) is { Success: true } match ? ("pattern", Trimmed(match.Value)) : null;
        }

        return InjectionRules.Find(guardrail.Check, text) is { } found ? (found.Rule.Name, found.Matched) : null;
    }

    private static string Trimmed(string matched) => matched.Length > 60 ? matched[..60] + "..." : matched;

    /// <summary>What the caller wrote: user messages and tool results, their text and text parts, and a continuation's partial text is the model's, not checked.</summary>
    private static IEnumerable<string> CallerTexts(ChatRequest request)
    {
        foreach (var message in request.Messages.Where(m => m.Role is Role.User or Role.Tool))
        {
            yield return message.Content;
            foreach (var part in message.Parts.Where(p => p.PartCase == ContentPart.PartOneofCase.Text))
            {
                yield return part.Text;
            }
        }
    }
}
