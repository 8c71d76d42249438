using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace LlmRouter.Common.Protection;

/// <summary>
/// Finds one kind of value to mask (DESIGN.md section 15): a pattern that proposes candidates and, where the kind has
/// one, a check that confirms them (a checksum, an address parser), so a number that merely looks like a card or an
/// IBAN passes unmasked. A pattern with a group named <c>value</c> masks only that group (the secret after
/// <c>password=</c>, not the word). Its <see cref="Label"/> names its placeholders: <c>[EMAIL_1]</c>.
/// </summary>
internal sealed class Recognizer(string name, string label, Regex pattern, Func<string, bool>? confirm = null)
{
    /// <summary>How the mesh file names it (<c>email</c>, or a custom pattern's name).</summary>
    public string Name { get; } = name;

    /// <summary>The placeholder's label: upper-case letters, digits and underscores.</summary>
    public string Label { get; } = label;

    /// <summary>Every confirmed value in <paramref name="text"/>, as (start, length).</summary>
    public IEnumerable<(int Start, int Length)> Find(string text)
    {
        foreach (Match match in pattern.Matches(text))
        {
            var value = match.Groups["value"] is { Success: true } group ? group : (Group)match;
            if (value.Length > 0 && (confirm is null || confirm(value.Value)))
            {
                yield return (value.Index, value.Length);
            }
        }
    }
}

/// <summary>The recognizers the mesh ships, by the names the mesh file lists them under (<c>protection.masking.recognizers</c>).</summary>
internal static partial class Recognizers
{
    /// <summary>Every built-in recognizer, in the order a tie between two overlapping values of one length is decided.</summary>
    public static IReadOnlyList<Recognizer> BuiltIn { get; } =
    [
        new("secret", "SECRET", Secret()),
        new("email", "EMAIL", Email()),
        new("iban", "IBAN", Iban(), v => Checksums.Iban(v)),
        new("card", "CARD", Card(), v => Checksums.Luhn(v)),
        new("us_ssn", "SSN", UsSsn()),
        new("pesel", "PESEL", Pesel(), v => Checksums.Pesel(v)),
        new("nip", "NIP", Nip(), v => Checksums.Nip(v)),
        new("ip", "IP", IPv4()),
        new("ip", "IP", IPv6(), IsIPv6),
        new("phone", "PHONE", Phone(), IsPhone),
    ];

    /// <summary>The names a mesh file may list.</summary>
    public static IReadOnlyList<string> Names { get; } = BuiltIn.Select(r => r.Name).Distinct().ToList();

    // Local part and domain as mail is written (RFC 5321's dot-atoms), the top-level domain alphabetic.
    [GeneratedRegex(@"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*\.[A-Za-z]{2,24}\b", RegexOptions.CultureInvariant)]
    private static partial Regex Email();

    // Two letters, two digits, then 11 to 30 letters or digits, in groups of four when spaced (the checksum decides).
    [GeneratedRegex(@"\b[A-Z]{2}[0-9]{2}(?:[ ]?[A-Z0-9]){11,30}\b", RegexOptions.CultureInvariant)]
    private static partial Regex Iban();

    // 13 to 19 digits, optionally in groups split by single spaces or dashes (Luhn decides).
    [GeneratedRegex(@"(?<![\w-])[0-9](?:[ -]?[0-9]){12,18}(?![\w-])", RegexOptions.CultureInvariant)]
    private static partial Regex Card();

    // AAA-GG-SSSS: never area 000, 666 or 9xx, group 00 or serial 0000 (the SSA's rules since 2011).
    [GeneratedRegex(@"(?<![\w-])(?!000|666|9)[0-9]{3}([- ])(?!00)[0-9]{2}\1(?!0000)[0-9]{4}(?![\w-])", RegexOptions.CultureInvariant)]
    private static partial Regex UsSsn();

    [GeneratedRegex(@"(?<![\w-])[0-9]{11}(?![\w-])", RegexOptions.CultureInvariant)]
    private static partial Regex Pesel();

    // Ten digits, as written plain or with dashes (123-456-32-18, 123-45-67-819).
    [GeneratedRegex(@"(?<![\w-])(?:[0-9]{10}|[0-9]{3}-[0-9]{3}-[0-9]{2}-[0-9]{2}|[0-9]{3}-[0-9]{2}-[0-9]{2}-[0-9]{3})(?![\w-])", RegexOptions.CultureInvariant)]
    private static partial Regex Nip();

    [GeneratedRegex(@"(?<![\w.])(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?!\w|\.[0-9])", RegexOptions.CultureInvariant)]
    private static partial Regex IPv4();

    // Hex groups with colons (and an IPv4 tail), at least two colons; the parser decides.
    [GeneratedRegex(@"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:[0-9]{1,3}\.){3}[0-9]{1,3})?(?![\w:])", RegexOptions.CultureInvariant)]
    private static partial Regex IPv6();

    // An international number (+ and 8 to 15 digits) or a national one of 9 to 11 digits in two or more groups
    // ((555) 123-4567, 555-123-4567, 600 123 456); a date or a plain long number is not one.
    [GeneratedRegex(@"(?<![\w+-])(?:\+[0-9]{1,3}[ .-]?(?:\(?[0-9]{1,4}\)?[ .-]?){1,5}[0-9]{2,4}|\(?[0-9]{3}\)?[ .-][0-9]{3}[ .-][0-9]{3,4}|[0-9]{3}-[0-9]{3}-[0-9]{4})(?![\w-])", RegexOptions.CultureInvariant)]
    private static partial Regex Phone();

    // Keys in the formats their issuers use (OpenAI and Anthropic sk-, AWS AKIA/ASIA, GitHub gh?_ and github_pat_,
    // Slack xox?-, Google AIza, Stripe sk_/rk_), JWTs, PEM private keys, and the value after a password, secret,
    // token or api key assignment.
    [GeneratedRegex(@"\bsk-(?:ant-|proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}|\b(?:AKIA|ASIA)[A-Z0-9]{16}\b|\bgh[pousr]_[A-Za-z0-9]{36,}\b|\bgithub_pat_[A-Za-z0-9_]{22,}|\bxox[abprs]-[A-Za-z0-9-]{10,}|\bAIza[0-9A-Za-z_-]{35}|\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}|\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}|-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----[A-Za-z0-9+/=\s]{16,}?-----END (?:[A-Z]+ )*PRIVATE KEY-----|(?i:\b(?:password|passwd|pwd|secret|api[_-]?key|access[_-]?token|auth[_-]?token|client[_-]?secret)\b[""']?\s*[:=]\s*[""']?)(?<value>[^\s""',;]{6,})", RegexOptions.CultureInvariant)]
    private static partial Regex Secret();

    // At least one decimal digit: "a::b" (a scope in C++ or Rust) parses as an address but is not one in prose.
    private static bool IsIPv6(string value) =>
        value.Count(c => c == ':') >= 2 && value.Any(char.IsAsciiDigit)
        && IPAddress.TryParse(value, out var address) && address.AddressFamily == AddressFamily.InterNetworkV6;

    // 8 to 15 digits in all (E.164 allows 15), so a short code or a long account number is not a phone.
    private static bool IsPhone(string value) => value.Count(char.IsAsciiDigit) is >= 8 and <= 15;
}
