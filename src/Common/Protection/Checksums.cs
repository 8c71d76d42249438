namespace LlmRouter.Common.Protection;

/// <summary>
/// The check digits that tell a real identifier from a number that only looks like one (issue 14): a recognizer
/// masks a card number, IBAN, PESEL or NIP only when its checksum holds, so order numbers and timestamps pass.
/// Each takes the identifier's characters as written and ignores the separators it allows (spaces, dashes).
/// </summary>
internal static class Checksums
{
    /// <summary>Payment cards (ISO/IEC 7812): the Luhn check over 13 to 19 digits.</summary>
    public static bool Luhn(ReadOnlySpan<char> text)
    {
        var sum = 0;
        var digits = 0;
        for (var i = text.Length - 1; i >= 0; i--)
        {
            if (!char.IsAsciiDigit(text[i]))
            {
                continue;
            }

            var digit = text[i] - '0';
            if (digits++ % 2 == 1)
            {
                digit *= 2;
                digit -= digit > 9 ? 9 : 0;
            }

            sum += digit;
        }

        return digits is >= 13 and <= 19 && sum % 10 == 0;
    }

    /// <summary>
    /// IBANs (ISO 13616): two letters, two check digits and 11 to 30 letters or digits; the first four moved to the
    /// end, letters read as 10 to 35, the whole number modulo 97 is 1.
    /// </summary>
    public static bool Iban(ReadOnlySpan<char> text)
    {
        Span<char> compact = stackalloc char[34];
        var length = 0;
        foreach (var c in text)
        {
            if (c == ' ')
            {
                continue;
            }

            if (length == compact.Length || !char.IsAsciiLetterOrDigit(c))
            {
                return false;
            }

            compact[length++] = char.ToUpperInvariant(c);
        }

        if (length < 15 || !char.IsAsciiLetterUpper(compact[0]) || !char.IsAsciiLetterUpper(compact[1])
            || !char.IsAsciiDigit(compact[2]) || !char.IsAsciiDigit(compact[3]))
        {
            return false;
        }

        var remainder = 0;
        for (var i = 0; i < length; i++)
        {
            var c = compact[(i + 4) % length];
            remainder = char.IsAsciiDigit(c)
                ? ((remainder * 10) + (c - '0')) % 97
                : ((remainder * 100) + (c - 'A' + 10)) % 97;
        }

        return remainder == 1;
    }

    private static readonly int[] PeselWeights = [1, 3, 7, 9, 1, 3, 7, 9, 1, 3];

    /// <summary>
    /// Polish PESEL: eleven digits, a birth date (the month carries the century: +80 for the 1800s, +0, +20, +40, +60
    /// for the 1900s to the 2100s) and a check digit, ten minus the weighted sum modulo 10.
    /// </summary>
    public static bool Pesel(ReadOnlySpan<char> text)
    {
        if (text.Length != 11)
        {
            return false;
        }

        var sum = 0;
        for (var i = 0; i < 10; i++)
        {
            if (!char.IsAsciiDigit(text[i]))
            {
                return false;
            }

            sum += (text[i] - '0') * PeselWeights[i];
        }

        if (!char.IsAsciiDigit(text[10]) || (10 - (sum % 10)) % 10 != text[10] - '0')
        {
            return false;
        }

        var month = ((text[2] - '0') * 10) + (text[3] - '0');
        var day = ((text[4] - '0') * 10) + (text[5] - '0');
        return month % 20 is >= 1 and <= 12 && day is >= 1 and <= 31;
    }

    private static readonly int[] NipWeights = [6, 5, 7, 2, 3, 4, 5, 6, 7];

    /// <summary>Polish NIP (tax id): ten digits, written with or without dashes; the weighted sum of the first nine modulo 11 is the tenth (never 10).</summary>
    public static bool Nip(ReadOnlySpan<char> text)
    {
        Span<int> digits = stackalloc int[10];
        var count = 0;
        foreach (var c in text)
        {
            if (c is '-' or ' ')
            {
                continue;
            }

            if (!char.IsAsciiDigit(c) || count == digits.Length)
            {
                return false;
            }

            digits[count++] = c - '0';
        }

        if (count != 10)
        {
            return false;
        }

        var sum = 0;
        for (var i = 0; i < 9; i++)
        {
            sum += digits[i] * NipWeights[i];
        }

        return sum % 11 != 10 && sum % 11 == digits[9];
    }
}
