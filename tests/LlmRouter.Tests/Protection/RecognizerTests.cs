using System.Globalization;
using LlmRouter.Common.Protection;

namespace LlmRouter.Tests.Protection;

/// <summary>
/// The built-in recognizers: every identifier with a valid checksum is masked, the same digits with the checksum
/// broken are not (tested over many generated values, not one example), and the formats that only look alike pass.
/// </summary>
public sealed class RecognizerTests
{
    private const int Samples = 300;

    private static string Masked(string text) => new MaskingSession(Recognizers.BuiltIn).Mask(text);

    [Fact]
    public void Card_ValidLuhnNumbers_AreMaskedAndBrokenOnesPass()
    {
        var random = new Random(1);
        for (var i = 0; i < Samples; i++)
        {
            var length = random.Next(13, 20);
            var card = WithCheckDigit(Digits(random, length - 1), LuhnCheckDigit);
            var grouped = i % 2 == 0 ? card : string.Join(' ', card.Chunk(4).Select(c => new string(c)));
            Assert.Equal("pay with [CARD_1] now", Masked($"pay with {grouped} now"));
            var broken = card[..^1] + (char)('0' + ((card[^1] - '0' + 1) % 10));
            Assert.False(Checksums.Luhn(broken), broken);
        }
    }

    [Fact]
    public void Iban_ValidChecksums_AreMaskedPlainOrSpacedAndBrokenOnesPass()
    {
        var random = new Random(2);
        foreach (var country in new[] { "DE", "PL", "GB", "FR", "NL" })
        {
            for (var i = 0; i < Samples / 5; i++)
            {
                var bban = country == "GB" || country == "NL" ? "ABCD" + Digits(random, 14) : Digits(random, 22);
                var iban = Iban(country, bban);
                Assert.True(Checksums.Iban(iban), iban);
                var spaced = string.Join(' ', iban.Chunk(4).Select(c => new string(c)));
                Assert.Equal("to [IBAN_1].", Masked($"to {(i % 2 == 0 ? iban : spaced)}."));
                var broken = iban[..4] + (iban[4] == '9' ? '0' : (char)(iban[4] + 1)) + iban[5..];
                Assert.False(Checksums.Iban(broken), broken);
            }
        }
    }

    [Fact]
    public void Pesel_ValidNumbers_AreMaskedAndBrokenOnesPass()
    {
        var random = new Random(3);
        for (var i = 0; i < Samples; i++)
        {
            var century = new[] { 0, 20, 40, 60, 80 }[random.Next(5)];
            var month = random.Next(1, 13) + century;
            var first = $"{random.Next(100):D2}{month:D2}{random.Next(1, 29):D2}{Digits(random, 4)}";
            var pesel = WithCheckDigit(first, PeselCheckDigit);
            Assert.Equal("PESEL: [PESEL_1]", Masked($"PESEL: {pesel}"));
            var broken = pesel[..^1] + (char)('0' + ((pesel[^1] - '0' + 1) % 10));
            Assert.Equal($"PESEL: {broken}", Masked($"PESEL: {broken}"));
        }
    }

    [Fact]
    public void Nip_ValidNumbers_AreMaskedInEveryWrittenFormAndBrokenOnesPass()
    {
        var random = new Random(4);
        var masked = 0;
        while (masked < Samples)
        {
            var first = Digits(random, 9);
            var check = first.Select((c, i) => (c - '0') * new[] { 6, 5, 7, 2, 3, 4, 5, 6, 7 }[i]).Sum() % 11;
            if (check == 10)
            {
                continue;
            }

            var nip = first + check.ToString(CultureInfo.InvariantCulture);
            var written = (masked % 3) switch
            {
                0 => nip,
                1 => $"{nip[..3]}-{nip[3..6]}-{nip[6..8]}-{nip[8..]}",
                _ => $"{nip[..3]}-{nip[3..5]}-{nip[5..7]}-{nip[7..]}",
            };
            Assert.Equal("NIP [NIP_1]", Masked($"NIP {written}"));
            var broken = nip[..^1] + (char)('0' + ((check + 1) % 10));
            Assert.False(Checksums.Nip(broken), broken);
            masked++;
        }
    }

    [Theory]
    [InlineData("write to jan.kowalski@example.com today", "write to [EMAIL_1] today")]
    [InlineData("a+tag@sub.example.co.uk, b_c@d-e.org", "[EMAIL_1], [EMAIL_2]")]
    [InlineData("call +48 600 123 456 or (555) 123-4567", "call [PHONE_1] or [PHONE_2]")]
    [InlineData("or 555-123-4567.", "or [PHONE_1].")]
    [InlineData("SSN 123-45-6789 and 123 45 6789", "SSN [SSN_1] and [SSN_2]")]
    [InlineData("host 10.0.12.7 and 192.168.1.1:8080", "host [IP_1] and [IP_2]:8080")]
    [InlineData("v6 2001:db8::8a2e:370:7334 and fe80::1", "v6 [IP_1] and [IP_2]")]
    [InlineData("key sk-proj-abcdefghijklmnopqrstuvwxyz012345", "key [SECRET_1]")]
    [InlineData("AKIAIOSFODNN7EXAMPLE in the log", "[SECRET_1] in the log")]
    [InlineData("token ghp_abcdefghijklmnopqrstuvwxyz0123456789AB", "token [SECRET_1]")]
    [InlineData("password=hunter2hunter2 please", "password=[SECRET_1] please")]
    [InlineData("api_key: \"Zx81-secret-value\"", "api_key: \"[SECRET_1]\"")]
    public void BuiltIn_FindsEachKind(string text, string expected) => Assert.Equal(expected, Masked(text));

    [Theory]
    [InlineData("IBAN PL61 1090 1014 0000 0712 1981 2874 PLN", "IBAN [IBAN_1] PLN")]
    [InlineData("DE89370400440532013000 100 EUR", "[IBAN_1] 100 EUR")]
    [InlineData("card 4111 1111 1111 1111 12/27 cvc", "card [CARD_1] 12/27 cvc")]
    [InlineData("card 4111111111111111 12/27", "card [CARD_1] 12/27")]
    [InlineData("{\"token\": \"abcd1234efgh\"}", "{\"token\": \"[SECRET_1]\"}")]
    [InlineData("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "aws_secret_access_key = [SECRET_1]")]
    [InlineData("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG", "AWS_SECRET_ACCESS_KEY=[SECRET_1]")]
    [InlineData("Authorization: Bearer 0123456789abcdefXYZ.tok", "Authorization: Bearer [SECRET_1]")]
    [InlineData("password: \"correct horse battery\"", "password: \"[SECRET_1]\"")]
    [InlineData("VAT id PL5261040828 and NIP: 5261040828", "VAT id PL[NIP_1] and NIP: [NIP_1]")]
    [InlineData("phone 555.123.4567.", "phone [PHONE_1].")]
    public void BuiltIn_FindsValuesWithWhatFollowsThem(string text, string expected) => Assert.Equal(expected, Masked(text));

    [Theory]
    [InlineData("Budget: 250 000 000 PLN, or 300 000 000 zł")]
    [InlineData("version 100.200.300 and 1.100.200.3000")]
    [InlineData("created 1700000008 and 1700000019")]
    [InlineData("max_tokens: 256000 and tokens=1000000")]
    [InlineData("the iban-like ab12 cd34 ef56 gh78 ij90 kl")]
    public void BuiltIn_LeavesAmountsVersionsTimestampsAndCountsAlone(string text) => Assert.Equal(text, Masked(text));

    [Theory]
    [InlineData("version 1.2.3.4.5 of the tool")]
    [InlineData("at 12:30:45 on 2026-11-30")]
    [InlineData("order 4111111111111112 shipped")]
    [InlineData("SSN 000-12-3456 is never issued, nor 666-12-3456 or 900-12-3456")]
    [InlineData("the ratio 3:2 and a::b")]
    [InlineData("an IBAN-like DE00123456781234567890 with a wrong check")]
    [InlineData("count 12345678901 items")]
    public void BuiltIn_LeavesLookalikesAlone(string text) => Assert.Equal(text, Masked(text));

    [Fact]
    public void Overlap_TheLongestValueWins_AndTheSameValueKeepsItsPlaceholder()
    {
        var session = new MaskingSession(Recognizers.BuiltIn);
        Assert.Equal("[EMAIL_1] wrote to [EMAIL_2]; [EMAIL_1] again", session.Mask("ann@example.com wrote to bob@example.com; ann@example.com again"));
        Assert.Equal("reply to [EMAIL_2]", session.Mask("reply to bob@example.com"));
        Assert.Equal(2, session.Masked);
    }

    [Fact]
    public void Placeholders_NeverTakeANameTheCallerAlreadyWrote()
    {
        var session = new MaskingSession(Recognizers.BuiltIn);
        Assert.Equal("[EMAIL_1] is a literal; [EMAIL_2] is not", session.Mask("[EMAIL_1] is a literal; ann@example.com is not"));
        Assert.False(session.TryOriginal("[EMAIL_1]", out _));
        Assert.True(session.TryOriginal("[EMAIL_2]", out var original));
        Assert.Equal("ann@example.com", original);
    }

    private static string Digits(Random random, int count) =>
        string.Concat(Enumerable.Range(0, count).Select(i => (char)('0' + random.Next(i == 0 ? 1 : 0, 10))));

    private static string WithCheckDigit(string digits, Func<string, int> check) => digits + check(digits).ToString(CultureInfo.InvariantCulture);

    private static int LuhnCheckDigit(string digits)
    {
        var sum = 0;
        for (var i = 0; i < digits.Length; i++)
        {
            var digit = digits[digits.Length - 1 - i] - '0';
            if (i % 2 == 0)
            {
                digit *= 2;
                digit -= digit > 9 ? 9 : 0;
            }

            sum += digit;
        }

        return (10 - (sum % 10)) % 10;
    }

    private static int PeselCheckDigit(string digits) =>
        (10 - (digits.Select((c, i) => (c - '0') * new[] { 1, 3, 7, 9, 1, 3, 7, 9, 1, 3 }[i]).Sum() % 10)) % 10;

    private static string Iban(string country, string bban)
    {
        var numeric = string.Concat((bban + country + "00").Select(c => char.IsAsciiDigit(c) ? c.ToString() : (c - 'A' + 10).ToString(CultureInfo.InvariantCulture)));
        var remainder = numeric.Aggregate(0, (r, c) => ((r * 10) + (c - '0')) % 97);
        return $"{country}{98 - remainder:D2}{bban}";
    }
}
