using System.Text;
using System.Text.Json;
using LlmRouter.Common.Protection;

namespace LlmRouter.Tests.Protection;

/// <summary>
/// Restoring an answer as it streams: whatever the deltas' boundaries (split at every position, in two and in three,
/// and one character at a time), the client reads the original values, never a placeholder the session issued, and
/// the restorer never holds back more than the longest placeholder less one character.
/// </summary>
public sealed class TextRestorerTests
{
    private const string Original = "Dear ann@example.com, call +48 600 123 456 or write to bob@example.com [not a placeholder] [EMAIL_9] [EMAIL_";

    private static (MaskingSession Session, string Masked) Masked()
    {
        var session = new MaskingSession(Recognizers.BuiltIn);
        return (session, session.Mask(Original));
    }

    [Fact]
    public void Restore_SplitInTwoAtEveryPosition_GivesTheOriginal()
    {
        var (session, masked) = Masked();
        Assert.Contains("[EMAIL_1]", masked, StringComparison.Ordinal);
        for (var cut = 0; cut <= masked.Length; cut++)
        {
            Assert.Equal(Original, Restore(session, [masked[..cut], masked[cut..]]));
        }
    }

    [Fact]
    public void Restore_SplitInThreeAtEveryPairOfPositions_GivesTheOriginal()
    {
        var (session, masked) = Masked();
        for (var first = 0; first <= masked.Length; first++)
        {
            for (var second = first; second <= masked.Length; second++)
            {
                Assert.Equal(Original, Restore(session, [masked[..first], masked[first..second], masked[second..]]));
            }
        }
    }

    [Fact]
    public void Restore_OneCharacterAtATime_HoldsBackLessThanTheLongestPlaceholder()
    {
        var (session, masked) = Masked();
        var restorer = new TextRestorer(session);
        var read = new StringBuilder();
        var longest = 0;
        foreach (var c in masked)
        {
            read.Append(restorer.Push(c.ToString()));
            longest = Math.Max(longest, restorer.Pending);
            Assert.True(restorer.Pending < session.LongestPlaceholder, $"held back {restorer.Pending} characters, placeholders are at most {session.LongestPlaceholder}");
            Assert.DoesNotContain("[EMAIL_1]", read.ToString(), StringComparison.Ordinal);
        }

        Assert.Equal(Original, read.Append(restorer.Flush()).ToString());
        Assert.Equal(session.LongestPlaceholder - 1, longest);
    }

    [Fact]
    public void Restore_TextWithoutBrackets_IsPassedOnAtOnce()
    {
        var (session, _) = Masked();
        var restorer = new TextRestorer(session);
        const string delta = "no placeholder here, nothing held back";
        Assert.Same(delta, restorer.Push(delta));
        Assert.Equal(0, restorer.Pending);
    }

    [Fact]
    public void Restore_InJson_EscapesTheValue()
    {
        var session = new MaskingSession([new Recognizer("quoted", "QUOTED", new System.Text.RegularExpressions.Regex("say \"[a-z]+\\\\x\""))]);
        var masked = session.Mask("""{"text": "say "hi\x" now"}""");
        Assert.Equal("""{"text": "[QUOTED_1] now"}""", masked);
        var restored = new TextRestorer(session, json: true).Push(masked);
        Assert.Equal("say \"hi\\x\" now", JsonDocument.Parse(restored).RootElement.GetProperty("text").GetString());
    }

    private static string Restore(MaskingSession session, IEnumerable<string> deltas)
    {
        var restorer = new TextRestorer(session);
        var read = new StringBuilder();
        foreach (var delta in deltas)
        {
            read.Append(restorer.Push(delta));
        }

        return read.Append(restorer.Flush()).ToString();
    }
}
