namespace LlmRouter.Node.Backends.Simulated;

/// <summary>
/// Deterministic text for the simulated backend: the same model and conversation always produce the same
/// tokens, so tests can assert exact answers and a continuation can be checked against the original.
/// </summary>
internal static class SimulatedText
{
    private static readonly string[] Vocabulary =
    [
        "the", "mesh", "routes", "each", "request", "to", "a", "model", "that", "answers", "quickly", "and",
        "streams", "tokens", "back", "through", "every", "hop", "without", "buffering", "nodes", "gossip",
        "their", "load", "so", "peers", "know", "where", "capacity", "waits", "for", "work", "while",
        "integrators", "carry", "traffic", "across", "subnets", "answer", "is", "deterministic", "here",
        "simulated", "backend", "writes", "words", "at", "steady", "pace", "with", "configurable", "delay",
        "before", "first", "token", "failures", "stalls", "can", "be", "injected", "on", "purpose",
    ];

    /// <summary>A stable 64-bit FNV-1a hash (string.GetHashCode is randomised per process).</summary>
    public static ulong Hash(ulong seed, string text)
    {
        var hash = seed ^ 14695981039346656037UL;
        foreach (var c in text)
        {
            hash ^= c;
            hash *= 1099511628211UL;
        }

        return hash;
    }

    public static ulong Mix(ulong value)
    {
        // SplitMix64 finaliser: spreads a counter into well-distributed bits.
        value += 0x9E3779B97F4A7C15UL;
        value = (value ^ (value >> 30)) * 0xBF58476D1CE4E5B9UL;
        value = (value ^ (value >> 27)) * 0x94D049BB133111EBUL;
        return value ^ (value >> 31);
    }

    /// <summary>Natural length of the answer for a seed: 16 to 63 tokens.</summary>
    public static int NaturalLength(ulong seed) => 16 + (int)(Mix(seed) % 48);

    /// <summary>The token at <paramref name="index"/>: a word followed by a space, the first one capitalised.</summary>
    public static string Token(ulong seed, int index)
    {
        var word = Vocabulary[Mix(seed + (ulong)index + 1) % (ulong)Vocabulary.Length];
        if (index == 0)
        {
            word = char.ToUpperInvariant(word[0]) + word[1..];
        }

        return index == 0 ? word : " " + word;
    }

    /// <summary>Rough token count of a text, for usage figures: one per word.</summary>
    public static int CountTokens(string text)
    {
        var count = 0;
        var inWord = false;
        foreach (var c in text)
        {
            var isSpace = char.IsWhiteSpace(c);
            if (!isSpace && !inWord)
            {
                count++;
            }

            inWord = !isSpace;
        }

        return count;
    }
}
