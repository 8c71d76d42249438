using System.Text;
using LlmRouter.Common.Configuration;

namespace LlmRouter.Common.Protection;

/// <summary>
/// One attempt's answer text through the answer guardrails (<see cref="AnswerGuardrails"/>), delta by delta. Each
/// delta is checked together with what is held back and the end of what already went out (a match may begin there),
/// and everything but the last <c>hold_back</c> characters goes out. A mask's match that reaches into the held-back
/// text is held whole when it began within <c>hold_back</c> of the held text (so never more than twice that is held),
/// since the next delta may make it longer; a longer one is masked as far as it has come, and its continuation masked
/// when it arrives. A match that lies wholly in text that
/// already went out was dealt with then.
/// </summary>
internal sealed class AnswerScreen(AnswerGuardrails guardrails) : IHeldText
{
    // How much of the text that went out is read again with each delta, for a match that began in it.
    private const int SentContext = 256;

    private string _held = "";
    private string _sent = "";

    public int Pending => _held.Length;

    public string Push(string delta) => Screen(_held + delta, final: false);

    public string Flush() => Screen(_held, final: true);

    private string Screen(string text, bool final)
    {
        if (text.Length == 0)
        {
            _held = "";
            return "";
        }

        var window = _sent + text;
        var offset = _sent.Length;
        var boundary = final ? text.Length : Math.Max(0, text.Length - guardrails.HoldBack);
        var masks = new List<(int Start, int End, GuardrailConfig Guardrail, string Rule)>();
        foreach (var guardrail in guardrails.Guardrails)
        {
            foreach (var found in GuardrailFinder.FindAll(guardrail, window))
            {
                var start = found.Start - offset;
                var end = found.Start + found.Length - offset;
                if (end <= 0)
                {
                    continue;
                }

                if (guardrail.Verdict != GuardrailVerdict.Mask)
                {
                    guardrails.Fire(guardrail, found.Rule, GuardrailFinder.Excerpt(window, found));
                    continue;
                }

                if (end > boundary && start >= boundary - guardrails.HoldBack && start >= 0 && !final)
                {
                    // It may grow with the next delta: held whole, from where it starts.
                    boundary = Math.Min(boundary, start);
                }
                else
                {
                    masks.Add((Math.Max(0, start), end, guardrail, found.Rule));
                }
            }
        }

        // Only what goes out now is masked now; a mask reaching into the held text is found again with it.
        var emitted = new StringBuilder(boundary);
        var at = 0;
        foreach (var (start, end, guardrail, rule) in masks.Where(m => m.Start < boundary).OrderBy(m => m.Start))
        {
            if (start < at)
            {
                continue;
            }

            guardrails.Fire(guardrail, rule, GuardrailFinder.Excerpt(text, new GuardrailFinder.Found(start, Math.Min(end, text.Length) - start, rule)));
            emitted.Append(text, at, start - at).Append(GuardrailFinder.Marker(guardrail));
            at = Math.Min(end, boundary);
        }

        // What went out is kept in plain, so a match that began in it is still seen whole.
        emitted.Append(text, at, Math.Max(0, boundary - at));
        var sent = window[..(offset + boundary)];
        _sent = sent.Length > SentContext ? sent[^SentContext..] : sent;
        _held = text[boundary..];
        return emitted.ToString();
    }
}
