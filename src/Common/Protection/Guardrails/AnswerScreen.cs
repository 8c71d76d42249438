using System.Text;
using LlmRouter.Common.Configuration;

namespace LlmRouter.Common.Protection;

/// <summary>
/// One attempt's answer text through the answer guardrails (<see cref="AnswerGuardrails"/>), delta by delta. Each
/// delta is checked together with what is held back and the end of what already reached the client (a match may
/// begin there, also before a continuation's seam), and everything but the last <c>hold_back</c> characters goes out.
/// A match is acted on once it is settled: text follows it, or the answer ended. One that reaches the end of the text
/// so far may still grow with the next delta (a longer number is not the card it looked like), so it is held whole
/// from where it starts, as long as that is within <c>hold_back</c> of the held text (never more than twice
/// <c>hold_back</c> is held); a longer one is acted on as far as it has come, and a mask then masks its continuation
/// when it arrives. A match wholly in text that already went out was dealt with then.
/// </summary>
internal sealed class AnswerScreen(AnswerGuardrails guardrails) : IHeldText
{
    private string _held = "";

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

        var sent = guardrails.SentTail;
        var window = sent + text;
        var offset = sent.Length;
        var holdBack = guardrails.HoldBack;
        // Where text may go out up to, and how far back a match may begin and still be held whole.
        var limit = final ? text.Length : Math.Max(0, text.Length - holdBack);
        var holdable = text.Length - (2 * holdBack);
        var boundary = limit;
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

                var growing = !final && holdBack > 0 && end == text.Length;
                if (growing && start >= Math.Max(0, holdable))
                {
                    boundary = Math.Min(boundary, start);
                    continue;
                }

                if (guardrail.Verdict == GuardrailVerdict.Mask)
                {
                    masks.Add((Math.Max(0, start), end, guardrail, found.Rule));
                }
                else
                {
                    guardrails.Fire(guardrail, found.Rule);
                }
            }
        }

        // A mask that reaches into the held text is held whole too, when it began close enough; holding it may lower
        // the boundary into another, so until none moves it.
        for (var moved = true; moved && !final;)
        {
            moved = false;
            foreach (var (start, end, _, _) in masks)
            {
                if (start < boundary && end > boundary && start >= Math.Max(0, holdable))
                {
                    boundary = start;
                    moved = true;
                }
            }
        }

        // What goes out now, masked: overlapping matches as one marker (the first one's).
        var emitted = new StringBuilder(boundary);
        var at = 0;
        foreach (var (start, end, guardrail, rule) in masks.Where(m => m.Start < boundary).OrderBy(m => m.Start))
        {
            if (start < at)
            {
                at = Math.Max(at, Math.Min(end, boundary));
                continue;
            }

            guardrails.Fire(guardrail, rule);
            emitted.Append(text, at, start - at).Append(GuardrailFinder.Marker(guardrail));
            at = Math.Min(end, boundary);
        }

        emitted.Append(text, at, Math.Max(0, boundary - at));
        guardrails.Sent(text[..boundary]);
        _held = text[boundary..];
        return emitted.ToString();
    }
}
