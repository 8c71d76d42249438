using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using LlmRouter.Common.Configuration;

namespace LlmRouter.Common.Protection;

/// <summary>
/// Where a guardrail that finds text (<c>prompt_injection</c>, <c>jailbreak</c>, <c>personal_data</c>, <c>pattern</c>)
/// finds it, the same for requests and answers: each match with the rule that found it (an injection rule's name, a
/// recognizer's name, or <c>pattern</c>). A guard model finds nothing here: it judges a whole conversation.
/// </summary>
internal static class GuardrailFinder
{
    /// <summary>One match: where it is and which rule found it.</summary>
    public readonly record struct Found(int Start, int Length, string Rule);

    private static readonly ConditionalWeakTable<GuardrailConfig, Regex> Patterns = [];
    private static readonly ConditionalWeakTable<GuardrailConfig, IReadOnlyList<Recognizer>> Kinds = [];

    /// <summary>Every match of the guardrail in <paramref name="text"/>, in order of where it starts (overlapping ones too).</summary>
    public static IEnumerable<Found> FindAll(GuardrailConfig guardrail, string text)
    {
        switch (guardrail.Check)
        {
            case "pattern":
                var pattern = Patterns.GetValue(guardrail, static g => new Regex(g.Pattern!, MaskingRecognizers.CustomOptions));
                return pattern.Matches(text).Where(m => m.Length > 0).Select(m => new Found(m.Index, m.Length, "pattern"));
            case "personal_data":
                var recognizers = Kinds.GetValue(guardrail, static g => Recognizers.BuiltIn.Where(r => g.Kinds.Count == 0 || g.Kinds.Contains(r.Name)).ToList());
                return recognizers.SelectMany(r => r.Find(text).Select(f => new Found(f.Start, f.Length, r.Name))).OrderBy(f => f.Start);
            case "prompt_injection" or "jailbreak":
                return InjectionRules.All.Where(r => r.Check == guardrail.Check)
                    .SelectMany(r => r.Pattern.Matches(text).Where(m => m.Length > 0).Select(m => new Found(m.Index, m.Length, r.Name))).OrderBy(f => f.Start);
            default:
                return [];
        }
    }

    /// <summary>What a match found, short enough for a status message (never more than 60 characters of it).</summary>
    public static string Excerpt(string text, Found found) =>
        found.Length > 60 ? text.Substring(found.Start, 60) + "..." : text.Substring(found.Start, found.Length);

    /// <summary>The text that takes a masked match's place (never restored: the guardrail removed it).</summary>
    public static string Marker(GuardrailConfig guardrail) => $"[MASKED:{guardrail.Name}]";

    /// <summary>
    /// The text with every match of the guardrail replaced by its marker (overlapping matches as one), and how many
    /// were replaced.
    /// </summary>
    public static (string Text, int Masked) MaskAll(GuardrailConfig guardrail, string text)
    {
        var masked = new System.Text.StringBuilder(text.Length);
        var at = 0;
        var count = 0;
        foreach (var found in FindAll(guardrail, text))
        {
            if (found.Start < at)
            {
                // Overlaps one already replaced: replace what reaches beyond it too.
                at = Math.Max(at, found.Start + found.Length);
                continue;
            }

            masked.Append(text, at, found.Start - at).Append(Marker(guardrail));
            at = found.Start + found.Length;
            count++;
        }

        return count == 0 ? (text, 0) : (masked.Append(text, at, text.Length - at).ToString(), count);
    }
}
