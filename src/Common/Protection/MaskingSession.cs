using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using LlmRouter.V1;

namespace LlmRouter.Common.Protection;

/// <summary>
/// One request's masking at its entry node (DESIGN.md section 15): each value a recognizer finds becomes a
/// placeholder, <c>[EMAIL_1]</c>, the same one wherever the same value appears in the request (and in a
/// continuation's partial answer), and the answer's placeholders are turned back into the values
/// (<see cref="TextRestorer"/>). The mapping lives here, in the entry node's memory, for the request's life: it is
/// never sent, logged or stored. Safe to share between a broadcast's racers.
/// </summary>
internal sealed partial class MaskingSession(IReadOnlyList<Recognizer> recognizers)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, string> _placeholders = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _originals = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _numbers = new(StringComparer.Ordinal);
    private readonly HashSet<string> _inText = new(StringComparer.Ordinal);
    private (ChatRequest Request, ChatRequest Masked)? _last;

    /// <summary>How many distinct values were masked (what the route log records; never the values).</summary>
    public int Masked
    {
        get
        {
            lock (_lock)
            {
                return _originals.Count;
            }
        }
    }

    /// <summary>Distinct values masked so far, by placeholder label (EMAIL, IBAN, ...).</summary>
    public IReadOnlyDictionary<string, int> MaskedByLabel
    {
        get
        {
            lock (_lock)
            {
                return _originals.Keys.GroupBy(p => p[1..p.LastIndexOf('_')]).ToDictionary(g => g.Key, g => g.Count());
            }
        }
    }

    /// <summary>The longest placeholder issued: a restorer holds back no more than this, less one.</summary>
    public int LongestPlaceholder { get; private set; }

    /// <summary>
    /// The request as it may leave: every message's text, its text parts, tool calls' arguments and tool results, and
    /// a continuation's partial answer, masked. Arguments and a tool result that is JSON are masked value by value (a
    /// string, or a number a recognizer takes whole, becomes a placeholder string), so what goes out is still JSON and
    /// the values found are the decoded ones. The same request asked for again (a broadcast's racers, a failover)
    /// gets the same masked copy.
    /// </summary>
    public ChatRequest Mask(ChatRequest request)
    {
        lock (_lock)
        {
            if (_last is { } last && ReferenceEquals(last.Request, request))
            {
                return last.Masked;
            }

            // Text that already looks like a placeholder is the caller's own, in any field (a stop sequence, a schema, a
            // tool's description): no value is given its name, and the answer's copy of it is never turned into one.
            Reserve(request.ToString());
            var masked = request.Clone();
            foreach (var message in masked.Messages)
            {
                message.Content = message.Role == Role.Tool ? MaskJsonOrText(message.Content) : MaskLocked(message.Content);
                foreach (var part in message.Parts.Where(p => p.PartCase == ContentPart.PartOneofCase.Text))
                {
                    part.Text = message.Role == Role.Tool ? MaskJsonOrText(part.Text) : MaskLocked(part.Text);
                }

                foreach (var call in message.ToolCalls)
                {
                    call.ArgumentsJson = MaskJsonOrText(call.ArgumentsJson);
                }
            }

            if (masked.Continuation is { } continuation)
            {
                continuation.PartialText = MaskLocked(continuation.PartialText);
            }

            _last = (request, masked);
            return masked;
        }
    }

    /// <summary>One text masked (embedding inputs, tests).</summary>
    public string Mask(string text)
    {
        lock (_lock)
        {
            Reserve(text);
            return MaskLocked(text);
        }
    }

    private void Reserve(string text)
    {
        foreach (Match match in PlaceholderShape().Matches(text))
        {
            _inText.Add(match.Value);
        }
    }

    /// <summary>The value behind a placeholder this session issued.</summary>
    public bool TryOriginal(ReadOnlySpan<char> placeholder, out string original)
    {
        lock (_lock)
        {
            return _originals.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(placeholder, out original!);
        }
    }

    /// <summary>Whether <paramref name="text"/> is the start (not the whole) of a placeholder this session issued: a restorer holds it back.</summary>
    public bool StartsPlaceholder(ReadOnlySpan<char> text)
    {
        lock (_lock)
        {
            foreach (var placeholder in _originals.Keys)
            {
                if (placeholder.Length > text.Length && placeholder.AsSpan().StartsWith(text, StringComparison.Ordinal))
                {
                    return true;
                }
            }

            return false;
        }
    }

    /// <summary>JSON masked value by value, written back as JSON; text that is not JSON masked as text.</summary>
    private string MaskJsonOrText(string text)
    {
        var trimmed = text.AsSpan().TrimStart();
        if (trimmed.Length == 0 || (trimmed[0] != '{' && trimmed[0] != '['))
        {
            return MaskLocked(text);
        }

        JsonNode? node;
        try
        {
            node = JsonNode.Parse(text);
        }
        catch (JsonException)
        {
            return MaskLocked(text);
        }

        // Written back only when a value changed, with no more escaping than JSON needs.
        var before = _replaced;
        var result = node is null ? null : MaskNode(node) ?? node;
        return result is null || _replaced == before ? text : result.ToJsonString(RelaxedJson);
    }

    private static readonly JsonSerializerOptions RelaxedJson = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    // JSON values replaced so far: whether a JSON text has to be written back.
    private int _replaced;

    /// <summary>Masks the values inside <paramref name="node"/>; returns a replacement for it when it is a value that changed.</summary>
    private JsonNode? MaskNode(JsonNode node)
    {
        switch (node)
        {
            case JsonObject json:
                foreach (var (key, child) in json.ToList())
                {
                    if (child is not null && MaskNode(child) is { } replaced)
                    {
                        json[key] = replaced;
                    }
                }

                return null;
            case JsonArray array:
                for (var i = 0; i < array.Count; i++)
                {
                    if (array[i] is { } child && MaskNode(child) is { } replaced)
                    {
                        array[i] = replaced;
                    }
                }

                return null;
            case JsonValue value when value.GetValueKind() == JsonValueKind.String:
                var text = value.GetValue<string>();
                var masked = MaskLocked(text);
                if (ReferenceEquals(masked, text))
                {
                    return null;
                }

                _replaced++;
                return JsonValue.Create(masked);
            case JsonValue value when value.GetValueKind() == JsonValueKind.Number:
                // A number a recognizer takes whole (a card number written as a number) becomes a placeholder string.
                var digits = value.ToJsonString();
                var whole = MaskLocked(digits);
                if (whole.Length == 0 || whole[0] != '[' || whole[^1] != ']' || !PlaceholderShape().IsMatch(whole))
                {
                    return null;
                }

                _replaced++;
                return JsonValue.Create(whole);
            default:
                return null;
        }
    }

    private string MaskLocked(string text)
    {
        if (text.Length == 0)
        {
            return text;
        }

        var found = Values(text);
        if (found.Count == 0)
        {
            return text;
        }

        var masked = new StringBuilder(text.Length);
        var at = 0;
        foreach (var (start, length, recognizer) in found)
        {
            masked.Append(text, at, start - at).Append(PlaceholderFor(text.Substring(start, length), recognizer.Label));
            at = start + length;
        }

        return masked.Append(text, at, text.Length - at).ToString();
    }

    /// <summary>
    /// Every recognizer's values, the overlaps settled: the longest value wins, and of two the same length, the
    /// recognizer listed first (a secret before an e-mail address inside it, an IBAN before a phone number).
    /// </summary>
    private List<(int Start, int Length, Recognizer Recognizer)> Values(string text)
    {
        var all = new List<(int Start, int Length, int Rank, Recognizer Recognizer)>();
        for (var rank = 0; rank < recognizers.Count; rank++)
        {
            foreach (var (start, length) in recognizers[rank].Find(text))
            {
                all.Add((start, length, rank, recognizers[rank]));
            }
        }

        all.Sort((a, b) => a.Length != b.Length ? b.Length.CompareTo(a.Length) : a.Rank != b.Rank ? a.Rank.CompareTo(b.Rank) : a.Start.CompareTo(b.Start));
        var taken = new List<(int Start, int Length, Recognizer Recognizer)>();
        var covered = new System.Collections.BitArray(text.Length);
        foreach (var (start, length, _, recognizer) in all)
        {
            var free = true;
            for (var i = start; i < start + length && free; i++)
            {
                free = !covered[i];
            }

            if (free)
            {
                taken.Add((start, length, recognizer));
                for (var i = start; i < start + length; i++)
                {
                    covered[i] = true;
                }
            }
        }

        taken.Sort((a, b) => a.Start.CompareTo(b.Start));
        return taken;
    }

    private string PlaceholderFor(string value, string label)
    {
        if (_placeholders.TryGetValue(value, out var existing))
        {
            return existing;
        }

        string placeholder;
        do
        {
            var number = _numbers[label] = _numbers.GetValueOrDefault(label) + 1;
            placeholder = $"[{label}_{number}]";
        }
        while (_inText.Contains(placeholder));

        _placeholders[value] = placeholder;
        _originals[placeholder] = value;
        LongestPlaceholder = Math.Max(LongestPlaceholder, placeholder.Length);
        return placeholder;
    }

    [GeneratedRegex(@"\[[A-Z][A-Z0-9_]*_[0-9]+\]", RegexOptions.CultureInvariant)]
    private static partial Regex PlaceholderShape();
}
