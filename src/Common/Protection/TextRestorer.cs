using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace LlmRouter.Common.Protection;

/// <summary>
/// Turns a streamed answer's placeholders back into the values they stand for, as the deltas arrive (DESIGN.md
/// section 15). A placeholder may be split across deltas at any position, so the end of a delta that could still
/// become one of the session's placeholders is held back until the next delta settles it: never more than the
/// longest placeholder less one character, and nothing at all while no <c>[</c> is open. Text that only looks like
/// a placeholder (one this request never issued) passes as it is. In tool-call arguments, which are JSON, a value
/// is written JSON-escaped. One restorer per stream of text: an answer's text, or one tool call's arguments.
/// </summary>
internal sealed class TextRestorer(MaskingSession session, bool json = false) : IHeldText
{
    private string _pending = "";

    /// <summary>Characters held back now, waiting for the next delta to tell whether they begin a placeholder.</summary>
    public int Pending => _pending.Length;

    /// <summary>The part of the text so far that can go out now, placeholders restored.</summary>
    public string Push(string delta)
    {
        var text = _pending.Length == 0 ? delta : _pending + delta;
        _pending = "";
        if (!text.Contains('['))
        {
            return text;
        }

        var restored = new StringBuilder(text.Length);
        var at = 0;
        while (at < text.Length)
        {
            var open = text.IndexOf('[', at);
            if (open < 0)
            {
                restored.Append(text, at, text.Length - at);
                break;
            }

            restored.Append(text, at, open - at);
            var close = text.IndexOf(']', open);
            if (close >= 0 && session.TryOriginal(text.AsSpan(open, close - open + 1), out var original))
            {
                restored.Append(json ? Escaped(original) : original);
                at = close + 1;
            }
            else if (close < 0 && session.StartsPlaceholder(text.AsSpan(open)))
            {
                // The end of this delta may be the start of a placeholder: it waits for the next.
                _pending = text[open..];
                break;
            }
            else
            {
                restored.Append('[');
                at = open + 1;
            }
        }

        return restored.ToString();
    }

    /// <summary>What is still held back, as it is: the stream has ended, so it was not a placeholder.</summary>
    public string Flush()
    {
        var rest = _pending;
        _pending = "";
        return rest;
    }

    // Inside a JSON string: quotes, backslashes and control characters escaped, the rest as it was written.
    private static string Escaped(string value) => JsonEncodedText.Encode(value, JavaScriptEncoder.UnsafeRelaxedJsonEscaping).Value;
}
