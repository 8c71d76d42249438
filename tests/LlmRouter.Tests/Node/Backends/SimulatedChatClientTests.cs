using LlmRouter.Common.Configuration;
using LlmRouter.Node.Backends.Simulated;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Time.Testing;

namespace LlmRouter.Tests.Node.Backends;

/// <summary>The simulated backend on a fake clock: exact pacing, deterministic text, injected faults.</summary>
public sealed class SimulatedChatClientTests
{
    private readonly FakeTimeProvider _time = new();
    private readonly SimulationCounters _counters = new();

    private SimulatedChatClient Client(SimulatedBackendConfig config, double random = 0.5) =>
        new(config, "sim-model", _time, () => random, _counters);

    private static SimulatedBackendConfig Config(
        int ttftMs = 100, double tokensPerSecond = 10, int? failAfter = null, int? stallAfter = null, double failureRate = 0) =>
        new(TimeSpan.FromMilliseconds(ttftMs), tokensPerSecond, DefaultMaxTokens: 64, failureRate, failAfter, stallAfter);

    private static List<ChatMessage> Conversation(string text) => [new(ChatRole.User, text)];

    [Fact]
    public async Task Stream_FirstTokenAfterTimeToFirstTokenThenOnePerInterval()
    {
        var client = Client(Config(ttftMs: 100, tokensPerSecond: 10));
        await using var stream = client.GetStreamingResponseAsync(Conversation("pace"), new ChatOptions { MaxOutputTokens = 3 }).GetAsyncEnumerator();

        var first = stream.MoveNextAsync().AsTask();
        _time.Advance(TimeSpan.FromMilliseconds(99));
        Assert.False(first.IsCompleted);
        _time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.True(await first);

        var second = stream.MoveNextAsync().AsTask();
        _time.Advance(TimeSpan.FromMilliseconds(99));
        Assert.False(second.IsCompleted);
        _time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.True(await second);
        Assert.Equal(2, _counters.TokensProduced);
    }

    [Fact]
    public async Task Stream_SameConversation_SameTokensAndUsage()
    {
        var client = Client(Config(ttftMs: 0, tokensPerSecond: 0));

        var first = await client.GetResponseAsync(Conversation("hello there"));
        var second = await client.GetResponseAsync(Conversation("hello there"));

        Assert.Equal(first.Text, second.Text);
        Assert.Equal(2, first.Usage!.InputTokenCount);
        Assert.InRange(first.Usage.OutputTokenCount!.Value, 16, 63);
        Assert.Equal(first.Usage.OutputTokenCount, first.Text.Split(' ').Length);
        Assert.Equal(ChatFinishReason.Stop, first.FinishReason);
    }

    [Fact]
    public async Task Stream_AnswerTokensSet_EveryConversationGetsThatManyThenStop()
    {
        var client = Client(Config(ttftMs: 0, tokensPerSecond: 0) with { AnswerTokens = 40 });

        var answers = new[] { await client.GetResponseAsync(Conversation("one")), await client.GetResponseAsync(Conversation("another conversation")) };
        var limited = await client.GetResponseAsync(Conversation("one"), new ChatOptions { MaxOutputTokens = 10 });

        Assert.All(answers, a => Assert.Equal((40, ChatFinishReason.Stop), (a.Text.Split(' ').Length, a.FinishReason)));
        Assert.Equal((10, ChatFinishReason.Length), (limited.Text.Split(' ').Length, limited.FinishReason));
    }

    [Fact]
    public async Task Stream_FailAfterTokens_ThrowsAfterExactlyThatMany()
    {
        var client = Client(Config(ttftMs: 0, tokensPerSecond: 0, failAfter: 4));
        var received = 0;

        var failure = await Assert.ThrowsAsync<SimulatedBackendException>(async () =>
        {
            await foreach (var update in client.GetStreamingResponseAsync(Conversation("x")))
            {
                received += update.Text.Length > 0 ? 1 : 0;
            }
        });

        Assert.Equal(4, received);
        Assert.Equal("injected failure after 4 tokens", failure.Message);
        Assert.Equal(0, _counters.ActiveGenerations);
    }

    [Fact]
    public async Task Stream_FailureRateHit_FailsBeforeTheFirstToken()
    {
        var client = Client(Config(ttftMs: 0, failureRate: 0.3), random: 0.2);

        await Assert.ThrowsAsync<SimulatedBackendException>(() => client.GetResponseAsync(Conversation("x")));

        Assert.Equal(0, _counters.TokensProduced);
    }

    [Fact]
    public async Task Stream_StallThenCancel_NoTokenAfterCancellation()
    {
        var client = Client(Config(ttftMs: 0, tokensPerSecond: 0, stallAfter: 2));
        using var cancel = new CancellationTokenSource();
        var received = 0;

        var reading = Task.Run(async () =>
        {
            await foreach (var update in client.GetStreamingResponseAsync(Conversation("x"), cancellationToken: cancel.Token))
            {
                received += update.Text.Length > 0 ? 1 : 0;
            }
        });
        await LlmRouter.Tests.Infrastructure.Eventually.WaitUntil(() => _counters.TokensProduced == 2, "two tokens before the stall", () => $"{_counters.TokensProduced}");
        _time.Advance(TimeSpan.FromHours(1));
        Assert.False(reading.IsCompleted);
        cancel.Cancel();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => reading);
        Assert.Equal(2, received);
        Assert.Equal((0, 1L, 0L), (_counters.ActiveGenerations, _counters.CancelledGenerations, _counters.TokensAfterCancellation));
    }
}
