using System.Runtime.CompilerServices;
using LlmRouter.Common.Configuration;
using Microsoft.Extensions.AI;

namespace LlmRouter.Node.Backends.Simulated;

/// <summary>
/// The built-in simulated model (DESIGN.md section 8): deterministic tokens paced by a configurable time
/// to first token and tokens per second, with failure and stall injection. It is the embedded default so
/// the mesh runs on a machine with no model installed, and the reference that benchmarks compare against.
/// </summary>
internal sealed class SimulatedChatClient(
    SimulatedBackendConfig config,
    string modelId,
    TimeProvider time,
    Func<double> random,
    SimulationCounters counters) : IChatClient
{
    public async Task<ChatResponse> GetResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
        await GetStreamingResponseAsync(messages, options, cancellationToken).ToChatResponseAsync(cancellationToken).ConfigureAwait(false);

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages,
        ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var conversation = messages.ToList();
        var seed = Seed(conversation, options);
        // A fixed length (load tests want every answer alike), else one that varies with the conversation;
        // tool calls and JSON answers have the length of their text.
        var answer = SimulatedAnswer.For(conversation, options, seed, config.AnswerTokens, config.Echo, config.GuardTerms);
        var natural = answer.Length;
        var limit = options?.MaxOutputTokens ?? config.DefaultMaxTokens;
        var count = Math.Min(natural, limit);
        var inputTokens = conversation.Sum(m => SimulatedText.CountTokens(m.Text));
        var responseId = $"sim-{seed:x16}";

        counters.GenerationStarted();
        var cancelled = true;
        try
        {
            await Task.Delay(config.TimeToFirstToken, time, cancellationToken).ConfigureAwait(false);
            if (config.FailureRate > 0 && random() < config.FailureRate)
            {
                cancelled = false;
                throw new SimulatedBackendException($"injected failure before the first token (failure_rate {config.FailureRate})");
            }

            var started = time.GetTimestamp();
            for (var index = 0; index < count; index++)
            {
                if (index == config.FailAfterTokens)
                {
                    cancelled = false;
                    throw new SimulatedBackendException($"injected failure after {index} tokens");
                }

                if (index == config.StallAfterTokens)
                {
                    // A stall never ends by itself; only the caller's cancellation (timeout, client) ends it.
                    await Task.Delay(Timeout.InfiniteTimeSpan, time, cancellationToken).ConfigureAwait(false);
                }

                await PaceAsync(started, index, cancellationToken).ConfigureAwait(false);
                // A cancellation that came while the pace's delay was completing stops the token here: a token
                // is produced only by a generation that had not been told to stop (the counter checks it).
                cancellationToken.ThrowIfCancellationRequested();
                counters.TokenProduced(cancellationToken.IsCancellationRequested);
                yield return new ChatResponseUpdate(ChatRole.Assistant, [answer.Piece(index)])
                {
                    ResponseId = responseId,
                    ModelId = modelId,
                };
            }

            cancelled = false;
        }
        finally
        {
            counters.GenerationEnded(cancelled);
        }

        yield return new ChatResponseUpdate
        {
            Role = ChatRole.Assistant,
            ResponseId = responseId,
            ModelId = modelId,
            FinishReason = count < natural ? ChatFinishReason.Length : answer.CallsTools ? ChatFinishReason.ToolCalls : ChatFinishReason.Stop,
            Contents = [new UsageContent(new UsageDetails { InputTokenCount = inputTokens, OutputTokenCount = count, TotalTokenCount = inputTokens + count })],
        };
    }

    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is null && serviceType.IsInstanceOfType(this) ? this : null;

    public void Dispose()
    {
    }

    /// <summary>Token i is due at start + i / tokens_per_second: pacing by schedule, so delays never drift.</summary>
    private Task PaceAsync(long started, int index, CancellationToken cancellationToken)
    {
        if (index == 0 || config.TokensPerSecond <= 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            return Task.CompletedTask;
        }

        var due = TimeSpan.FromSeconds(index / config.TokensPerSecond);
        var wait = due - time.GetElapsedTime(started);
        return wait > TimeSpan.Zero ? Task.Delay(wait, time, cancellationToken) : Task.CompletedTask;
    }

    private ulong Seed(List<ChatMessage> conversation, ChatOptions? options)
    {
        var seed = SimulatedText.Hash((ulong)(options?.Seed ?? 0), modelId);
        foreach (var message in conversation)
        {
            seed = SimulatedText.Hash(seed, message.Role.Value);
            seed = SimulatedText.Hash(seed, message.Text);
            foreach (var content in message.Contents)
            {
                // Tool calls and results change the conversation as much as its text does.
                seed = content switch
                {
                    FunctionCallContent call => SimulatedText.Hash(SimulatedText.Hash(seed, call.CallId), call.Name),
                    FunctionResultContent result => SimulatedText.Hash(SimulatedText.Hash(seed, result.CallId), result.Result?.ToString() ?? ""),
                    _ => seed,
                };
            }
        }

        return seed;
    }
}
