using System.Text.RegularExpressions;

namespace LlmRouter.Common.Protection;

/// <summary>
/// In-process detection of prompt injection and jailbreak attempts in what a caller sends (issue 14, item 3):
/// rules that each name one technique, found in user and tool text (the system prompt is the operator's). Each
/// rule is a pattern for a phrase or a trick that attack collections show again and again:
/// <list type="bullet">
/// <item>overriding the instructions ("ignore all previous instructions", "disregard the system prompt", "your new
/// instructions are");</item>
/// <item>extracting them ("reveal your system prompt", "repeat the text above");</item>
/// <item>a persona without rules ("you are now DAN", "developer mode", "do anything now", "no restrictions");</item>
/// <item>chat-template tokens smuggled into content (<c>&lt;|im_start|&gt;system</c>, <c>[INST]</c>, <c>### System:</c>);</item>
/// <item>hidden text: Unicode tag characters (U+E0000 to U+E007F), which render as nothing.</item>
/// </list>
/// Patterns are matched without regard to case or spacing. This is a heuristic: it catches the common forms and
/// their near variants, not a paraphrase it has never seen (a guard model is for that).
/// </summary>
internal static partial class InjectionRules
{
    /// <summary>A technique and how it is found.</summary>
    public sealed record Rule(string Name, string Check, Regex Pattern);

    /// <summary>The checks a guardrail may name: prompt_injection and jailbreak, each a set of rules.</summary>
    public static IReadOnlyList<Rule> All { get; } =
    [
        new("ignore-instructions", "prompt_injection", IgnoreInstructions()),
        new("new-instructions", "prompt_injection", NewInstructions()),
        new("reveal-prompt", "prompt_injection", RevealPrompt()),
        new("template-tokens", "prompt_injection", TemplateTokens()),
        new("hidden-text", "prompt_injection", HiddenText()),
        new("unrestricted-persona", "jailbreak", UnrestrictedPersona()),
        new("developer-mode", "jailbreak", DeveloperMode()),
        new("hypothetical-bypass", "jailbreak", HypotheticalBypass()),
    ];

    public static IReadOnlyList<string> Checks { get; } = ["prompt_injection", "jailbreak"];

    /// <summary>The first rule of <paramref name="check"/> that <paramref name="text"/> trips, with what it matched; null when none.</summary>
    public static (Rule Rule, string Matched)? Find(string check, string text)
    {
        foreach (var rule in All)
        {
            if (rule.Check == check && rule.Pattern.Match(text) is { Success: true } match)
            {
                return (rule, match.Value.Length > 60 ? match.Value[..60] + "..." : match.Value);
            }
        }

        return null;
    }

    private const RegexOptions Options = RegexOptions.IgnoreCase | RegexOptions.CultureInvariant | RegexOptions.NonBacktracking;

    [GeneratedRegex(@"\b(ignore|disregard|forget|override|bypass|skip)\s+(all\s+|any\s+|the\s+|your\s+|my\s+|every\s+)*(previous|prior|above|earlier|preceding|original|initial|system|developer|safety)\s+(instructions?|prompts?|rules|directions|guidelines|messages?|context|constraints)", Options)]
    private static partial Regex IgnoreInstructions();

    [GeneratedRegex(@"\b(your\s+new\s+(instructions|rules|task)\s+(are|is)|from\s+now\s+on,?\s+you\s+(will|must|are\s+to)\s+(ignore|obey\s+only|answer\s+without)|new\s+system\s+prompt\s*:)", Options)]
    private static partial Regex NewInstructions();

    [GeneratedRegex(@"\b(reveal|print|show|output|repeat|display|leak|tell\s+me)\s+(me\s+)?(your|the)\s+(full\s+|entire\s+|complete\s+|hidden\s+|original\s+)*(system\s+prompt|initial\s+instructions|hidden\s+instructions|developer\s+message|instructions\s+above|text\s+above)", Options)]
    private static partial Regex RevealPrompt();

    [GeneratedRegex(@"<\|im_start\|>\s*system|<\|system\|>|<\|start_header_id\|>\s*system|\[/?INST\]|<<SYS>>|^\s*#{2,}\s*(system|instruction)s?\s*:", Options | RegexOptions.Multiline)]
    private static partial Regex TemplateTokens();

    [GeneratedRegex(@"[\uDB40][\uDC00-\uDC7F]")]
    private static partial Regex HiddenText();

    [GeneratedRegex(@"\b(you\s+are\s+(now\s+)?(DAN|STAN|AIM|an?\s+(unfiltered|uncensored|unrestricted|amoral)\s+(ai|assistant|model|chatbot))|do\s+anything\s+now|(without|no)\s+(any\s+)?(restrictions|filters|limitations|guidelines|ethical\s+constraints|content\s+policy))", Options)]
    private static partial Regex UnrestrictedPersona();

    [GeneratedRegex(@"\b(developer|god|jailbreak|unrestricted|debug)\s+mode\s+(enabled|activated|on)\b|\benable\s+(developer|god|jailbreak)\s+mode\b|\bjailbroken\b", Options)]
    private static partial Regex DeveloperMode();

    [GeneratedRegex(@"\b(hypothetically|in\s+a\s+fictional\s+world|for\s+a\s+novel|purely\s+for\s+research),?\s+(explain|describe|write|tell)\b.{0,80}\b(how\s+to\s+(make|build|synthesize|hack)|step[-\s]by[-\s]step)", Options)]
    private static partial Regex HypotheticalBypass();
}
