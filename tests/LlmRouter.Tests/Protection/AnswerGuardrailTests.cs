using LlmRouter.Common.Configuration;
using LlmRouter.Common.Protection;
using LlmRouter.Tests.Fakes;
using LlmRouter.V1;

namespace LlmRouter.Tests.Protection;

/// <summary>
/// Answer guardrails as the answer streams (issue 14, item 3): whatever pieces the answer comes in, a block stops it
/// before any part of a match that fits the hold-back reaches the client, a mask replaces the match whole, a flag lets
/// the text through as it was, and never more than twice the hold-back is held.
/// </summary>
public sealed class AnswerGuardrailTests
{
    private const string Answer = "Here is the plan. Your card 4111 1111 1111 1111 is on file, and Project Falcon starts at dawn; card 4111 1111 1111 1111 again.";

    private static GuardrailConfig Guardrail(string name, string check, GuardrailVerdict verdict, int holdBack, string? pattern = null, params string[] kinds) =>
        new(name, check, pattern, verdict, [], []) { On = GuardrailPhase.Answer, HoldBack = holdBack, Kinds = kinds };

    [Fact]
    public async Task Block_InAnyPieces_StopsBeforeAnyPartOfTheMatchReachesTheClient()
    {
        var codename = Guardrail("codename", "pattern", GuardrailVerdict.Block, 24, "(?i)project\\s+falcon");
        var matchAt = Answer.IndexOf("Project", StringComparison.Ordinal);
        for (var size = 1; size <= Answer.Length; size++)
        {
            var (guardrails, attempts) = Screening(codename);
            var client = new RecordingChatSink();
            var sink = guardrails.For(client);

            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => StreamAsync(sink, Answer, size));

            Assert.True(attempts.IsCancellationRequested);
            Assert.Equal("codename", guardrails.Blocked?.Guardrail);
            Assert.StartsWith(client.Text, Answer, StringComparison.Ordinal);
            Assert.True(client.Text.Length <= matchAt, $"pieces of {size}: the client read \"{client.Text}\"");
            Assert.DoesNotContain(client.Frames, f => f.FrameCase == ChatResponse.FrameOneofCase.Completed);
        }
    }

    [Fact]
    public async Task Mask_InAnyPieces_ReplacesEveryMatchWhole()
    {
        var cards = Guardrail("cards", "personal_data", GuardrailVerdict.Mask, 32, kinds: "card");
        var expected = Answer.Replace("4111 1111 1111 1111", "[MASKED:cards]", StringComparison.Ordinal);
        for (var size = 1; size <= Answer.Length; size++)
        {
            var (guardrails, attempts) = Screening(cards);
            var client = new RecordingChatSink();

            await StreamAsync(guardrails.For(client), Answer, size);

            Assert.Equal(expected, client.Text);
            Assert.False(attempts.IsCancellationRequested);
            Assert.Equal("cards:mask", Assert.Single(guardrails.Fired).ToString());
        }
    }

    [Fact]
    public async Task Flag_LetsTheAnswerThroughAsItWasAndRecordsItOnce()
    {
        var (guardrails, _) = Screening(Guardrail("cards", "personal_data", GuardrailVerdict.Flag, 16, kinds: "card"));
        var client = new RecordingChatSink();

        await StreamAsync(guardrails.For(client), Answer, 3);

        Assert.Equal(Answer, client.Text);
        var fired = Assert.Single(guardrails.Fired);
        // What an answer rule found is not kept: it would reach a log or a span.
        Assert.Equal(("cards:flag", "card", ""), (fired.ToString(), fired.Rule, fired.Matched));
    }

    [Fact]
    public async Task OverlappingMasks_InAnyPieces_BecomeOneMarker()
    {
        const string text = "xxabcdefyy and more text after it";
        for (var size = 1; size <= text.Length; size++)
        {
            var (guardrails, _) = Screening(
                Guardrail("A", "pattern", GuardrailVerdict.Mask, 8, "abc"),
                Guardrail("B", "pattern", GuardrailVerdict.Mask, 8, "bcdef"));
            var client = new RecordingChatSink();

            await StreamAsync(guardrails.For(client), text, size);

            Assert.Equal("xx[MASKED:A]yy and more text after it", client.Text);
        }
    }

    [Theory]
    [InlineData("(?i)\\bsecret\\b", "The secret", "ary said hello")]
    [InlineData(null, "Order 4111111111111111", "23 shipped today")]
    public async Task AMatchTheNextDeltaUndoes_FiresNothing(string? pattern, string first, string second)
    {
        var guardrail = pattern is null
            ? Guardrail("cards", "personal_data", GuardrailVerdict.Block, 16, kinds: "card")
            : Guardrail("word", "pattern", GuardrailVerdict.Block, 16, pattern);
        var (guardrails, attempts) = Screening(guardrail);
        var client = new RecordingChatSink();
        var sink = guardrails.For(client);

        await sink.DeltaAsync(new ChatResponse { Delta = new TextDelta { Text = first } }, flush: true, CancellationToken.None);
        await sink.DeltaAsync(new ChatResponse { Delta = new TextDelta { Text = second } }, flush: true, CancellationToken.None);
        await sink.CompletedAsync(new ChatResponse { Completed = new ChatCompleted() }, CancellationToken.None);

        Assert.Equal(first + second, client.Text);
        Assert.Empty(guardrails.Fired);
        Assert.False(attempts.IsCancellationRequested);
    }

    [Fact]
    public async Task AMatchAcrossAContinuationsSeam_IsStillFound()
    {
        var (guardrails, _) = Screening(Guardrail("codename", "pattern", GuardrailVerdict.Block, 0, "(?i)project\\s+falcon"));
        var client = new RecordingChatSink();

        // The first attempt's text reached the client, then it failed; the continuation goes on from there.
        await guardrails.For(client).DeltaAsync(new ChatResponse { Delta = new TextDelta { Text = "The plan is called Project" } }, flush: true, CancellationToken.None);
        var continuation = guardrails.For(client);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => continuation.DeltaAsync(new ChatResponse { Delta = new TextDelta { Text = " Falcon, and" } }, flush: true, CancellationToken.None));
        Assert.Equal("codename", guardrails.Blocked?.Guardrail);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(8)]
    [InlineData(40)]
    public void HeldBack_NeverMoreThanTwiceTheHoldBack_AndNothingIsLost(int holdBack)
    {
        var (guardrails, _) = Screening(
            Guardrail("cards", "personal_data", GuardrailVerdict.Mask, holdBack, kinds: "card"),
            Guardrail("falcon", "pattern", GuardrailVerdict.Flag, holdBack, "(?i)falcon"));
        var screen = new AnswerScreen(guardrails);
        var read = new System.Text.StringBuilder();
        foreach (var piece in Pieces(Answer, 1))
        {
            read.Append(screen.Push(piece));
            Assert.InRange(screen.Pending, 0, 2 * holdBack);
        }

        read.Append(screen.Flush());
        // A card longer than the hold-back is masked piece by piece as it comes, so no more than its digits are compared.
        Assert.DoesNotContain("4111 1111 1111 1111", read.ToString(), StringComparison.Ordinal);
        Assert.EndsWith(" again.", read.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ToolCalls_PassUnscreened_AfterTheTextHeldBeforeThem()
    {
        var (guardrails, _) = Screening(Guardrail("cards", "personal_data", GuardrailVerdict.Mask, 32, kinds: "card"));
        var client = new RecordingChatSink();
        var sink = guardrails.For(client);

        await sink.DeltaAsync(new ChatResponse { Delta = new TextDelta { Text = "Paying now" } }, flush: true, CancellationToken.None);
        Assert.Equal("", client.Text);
        await sink.DeltaAsync(new ChatResponse { ToolCall = new ToolCallDelta { Index = 0, Id = "c1", Name = "pay", Arguments = "{\"card\":\"4111 1111 1111 1111\"}" } }, flush: true, CancellationToken.None);

        Assert.Equal("Paying now", client.Text);
        Assert.Equal("{\"card\":\"4111 1111 1111 1111\"}", client.Arguments(0));
    }

    private static (AnswerGuardrails Guardrails, CancellationTokenSource Attempts) Screening(params GuardrailConfig[] guardrails)
    {
        var attempts = new CancellationTokenSource();
        var request = new ChatRequest { Model = "m" };
        return (AnswerGuardrails.ForEntry(guardrails, request, TenantConfig.Open("t"), attempts)!, attempts);
    }

    private static async Task StreamAsync(LlmRouter.Common.Chat.IChatSink sink, string text, int size)
    {
        foreach (var piece in Pieces(text, size))
        {
            await sink.DeltaAsync(new ChatResponse { Delta = new TextDelta { Text = piece } }, flush: true, CancellationToken.None);
        }

        await sink.CompletedAsync(new ChatResponse { Completed = new ChatCompleted() }, CancellationToken.None);
    }

    private static IEnumerable<string> Pieces(string text, int size)
    {
        for (var at = 0; at < text.Length; at += size)
        {
            yield return text.Substring(at, Math.Min(size, text.Length - at));
        }
    }
}
