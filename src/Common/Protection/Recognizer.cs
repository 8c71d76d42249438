using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace LlmRouter.Common.Protection;

/// <summary>
/// Finds one kind of value to mask (DESIGN.md section 15): a pattern that proposes candidates and, where the kind has
/// one, a check that confirms them (a checksum, an address parser), so a number that merely looks like a card or an
/// IBAN passes unmasked. A candidate the check refuses is tried again shorter, cut at each earlier word boundary,
/// since a greedy pattern takes what follows a value too (<c>4111 1111 1111 1111 12/27</c>, an IBAN and then
/// <c>PLN</c>). A pattern with a group named <c>value</c> masks only that group (the secret after <c>password=</c>,
/// not the word). Its <see cref="Label"/> names its placeholders: <c>[EMAIL_1]</c>.
/// </summary>
/// <param name="shortest">The shortest value a refused candidate is cut down to; null: a refused candidate is not cut.</param>
internal sealed class Recognizer(string name, string label, Regex pattern, Func<string, bool>? confirm = null, int? shortest = null)
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
            if (value.Length == 0)
            {
                continue;
            }

            if (confirm is null)
            {
                yield return (value.Index, value.Length);
                continue;
            }

            if (confirm(value.Value))
            {
                yield return (value.Index, value.Length);
                continue;
            }

            // Refused whole: the longest confirmed prefix that ends where a word ends.
            for (var length = value.Length - 1; length >= (shortest ?? value.Length); length--)
            {
                var end = value.Index + length;
                if (!char.IsLetterOrDigit(text[end]) && char.IsLetterOrDigit(text[end - 1]) && confirm(text.Substring(value.Index, length)))
                {
                    yield return (value.Index, length);
                    break;
                }
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
        new("secret", "SECRET", Secret(), NotACount),
        new("email", "EMAIL", Email()),
        new("iban", "IBAN", Iban(), v => Checksums.Iban(v), shortest: 15),
        new("card", "CARD", Card(), v => Checksums.Luhn(v), shortest: 13),
        new("us_ssn", "SSN", UsSsn()),
        new("pesel", "PESEL", Pesel(), v => Checksums.Pesel(v)),
        new("nip", "NIP", Nip(), v => Checksums.Nip(v), shortest: 10),
        new("ip", "IP", IPv4()),
        new("ip", "IP", IPv6(), IsIPv6),
        new("phone", "PHONE", Phone(), IsPhone),
    ];

    /// <summary>The names a mesh file may list.</summary>
    public static IReadOnlyList<string> Names { get; } = BuiltIn.Select(r => r.Name).Distinct().ToList();

    // Local part and domain as mail is written (RFC 5321's dot-atoms), the top-level domain alphabetic.
    [GeneratedRegex(@"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*\.[A-Za-z]{2,24}\b", RegexOptions.CultureInvariant)]
    private static partial Regex Email();

    // Two capitals, two digits, then 11 to 30 capitals or digits, in groups of four when spaced (the checksum decides;
    // lower case is left alone, where a phrase like "ab12 cd ef ..." would pass mod 97 by chance too often).
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

    // Ten digits with dashes (123-456-32-18, 123-45-67-819), or plain after the word NIP or VAT or as an EU VAT number
    // (PL5261040828): ten plain digits alone are as often a timestamp, and one in eleven passes the checksum.
    [GeneratedRegex(@"(?<![\w-])(?:[0-9]{3}-[0-9]{3}-[0-9]{2}-[0-9]{2}|[0-9]{3}-[0-9]{2}-[0-9]{2}-[0-9]{3})(?![\w-])|(?i:\b(?:NIP|VAT)(?:[ ]?(?:no\.?|nr\.?|id|number))?[ ]?[:#]?[ ]?)(?<value>[0-9]{10})\b|\bPL(?<value>[0-9]{10})\b", RegexOptions.CultureInvariant)]
    private static partial Regex Nip();

    [GeneratedRegex(@"(?<![\w.])(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?!\w|\.[0-9])", RegexOptions.CultureInvariant)]
    private static partial Regex IPv4();

    // Hex groups with colons (and an IPv4 tail), at least two colons; the parser decides.
    [GeneratedRegex(@"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:[0-9]{1,3}\.){3}[0-9]{1,3})?(?![\w:])", RegexOptions.CultureInvariant)]
    private static partial Regex IPv6();

    // An international number (+ and 8 to 15 digits) or a national one in groups ((555) 123-4567, 555-123-4567,
    // 555.123.4567, 600 123 456); a date, a version (100.200.300), a plain long number or an amount (250 000 000 PLN) is
    // not one.
    [GeneratedRegex(@"(?<![\w+-])(?<![0-9]\.)(?:\+[0-9]{1,3}[ .-]?(?:\(?[0-9]{1,4}\)?[ .-]?){1,5}[0-9]{2,4}|\(?[0-9]{3}\)?[ -][0-9]{3}[ -][0-9]{3,4}|[0-9]{3}\.[0-9]{3}\.[0-9]{4})(?![\w-]|\.[0-9]|[ ]?(?i:PLN|EUR|USD|GBP|CHF|zł|zl|dollars?|euros?)\b|[ ]?[$€£])", RegexOptions.CultureInvariant)]
    private static partial Regex Phone();

    // Keys in the formats their issuers use (OpenAI and Anthropic sk-, AWS AKIA/ASIA, GitHub gh?_ and github_pat_,
    // Slack xox?-, Google AIza, Stripe sk_/rk_), JWTs, PEM private keys, a bearer token, and the value assigned to a
    // name that says password, secret, token or key (aws_secret_access_key = ..., "token": "...", PASSWORD=...): a
    // quoted value whole, spaces and all, an unquoted one to the next space or separator.
    [GeneratedRegex(@"\bsk-(?:ant-|proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}|\b(?:AKIA|ASIA)[A-Z0-9]{16}\b|\bgh[pousr]_[A-Za-z0-9]{36,}\b|\bgithub_pat_[A-Za-z0-9_]{22,}|\bxox[abprs]-[A-Za-z0-9-]{10,}|\bAIza[0-9A-Za-z_-]{35}|\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}|\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}|-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----[A-Za-z0-9+/=\s]{16,}?-----END (?:[A-Z]+ )*PRIVATE KEY-----|(?i:\bBearer[ ]+)(?<value>[A-Za-z0-9._~+/=-]{16,})|(?i:\b[A-Za-z0-9_.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|private[_-]?key|credentials?)[A-Za-z0-9_.-]*[""']?[ ]*[:=][ ]*)(?:""(?<value>[^""\r\n]{6,})""|'(?<value>[^'\r\n]{6,})'|(?<value>[^\s""',;]{6,}))", RegexOptions.CultureInvariant)]
    private static partial Regex Secret();

    // At least one decimal digit: "a::b" (a scope in C++ or Rust) parses as an address but is not one in prose.
    private static bool IsIPv6(string value) =>
        value.Count(c => c == ':') >= 2 && value.Any(char.IsAsciiDigit)
        && IPAddress.TryParse(value, out var address) && address.AddressFamily == AddressFamily.InterNetworkV6;

    // A value assigned to a name like max_tokens is a count, not a secret: all digits and shorter than a PIN-free key.
    private static bool NotACount(string value) => value.Length >= 12 || !value.All(char.IsAsciiDigit);

    // 8 to 15 digits in all (E.164 allows 15), so a short code or a long account number is not a phone.
    private static bool IsPhone(string value) => value.Count(char.IsAsciiDigit) is >= 8 and <= 15;
}
