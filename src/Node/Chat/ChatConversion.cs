using LlmRouter.V1;
using Microsoft.Extensions.AI;

namespace LlmRouter.Node.Chat;

/// <summary>Translates between the Router API and Microsoft.Extensions.AI types.</summary>
internal static class ChatConversion
{
    public static List<Microsoft.Extensions.AI.ChatMessage> Messages(ChatRequest request)
    {
        var messages = new List<Microsoft.Extensions.AI.ChatMessage>(request.Messages.Count + 1);
        foreach (var message in request.Messages)
        {
            messages.Add(new Microsoft.Extensions.AI.ChatMessage(Role(message.Role), message.Content));
        }

        // A continuation hands the partial answer back as the assistant's turn, so the model goes on from it.
        if (request.Continuation is { PartialText.Length: > 0 } continuation)
        {
            messages.Add(new Microsoft.Extensions.AI.ChatMessage(ChatRole.Assistant, continuation.PartialText));
        }

        return messages;
    }

    public static ChatOptions Options(ChatRequest request, string upstreamModel)
    {
        var options = new ChatOptions { ModelId = upstreamModel };
        var sampling = request.Sampling;
        if (sampling is null)
        {
            return options;
        }

        options.Temperature = sampling.HasTemperature ? sampling.Temperature : null;
        options.TopP = sampling.HasTopP ? sampling.TopP : null;
        options.MaxOutputTokens = sampling.HasMaxTokens ? (int)Math.Min(sampling.MaxTokens, int.MaxValue) : null;
        options.Seed = sampling.HasSeed ? sampling.Seed : null;
        options.PresencePenalty = sampling.HasPresencePenalty ? sampling.PresencePenalty : null;
        options.FrequencyPenalty = sampling.HasFrequencyPenalty ? sampling.FrequencyPenalty : null;
        options.StopSequences = sampling.Stop.Count > 0 ? [.. sampling.Stop] : null;
        return options;
    }

    public static FinishReason FinishReason(ChatFinishReason? reason)
    {
        if (reason == ChatFinishReason.Length)
        {
            return V1.FinishReason.Length;
        }

        if (reason == ChatFinishReason.ContentFilter)
        {
            return V1.FinishReason.ContentFilter;
        }

        return reason == ChatFinishReason.ToolCalls ? V1.FinishReason.ToolCalls : V1.FinishReason.Stop;
    }

    private static ChatRole Role(Role role) => role switch
    {
        V1.Role.System => ChatRole.System,
        V1.Role.Assistant => ChatRole.Assistant,
        _ => ChatRole.User,
    };
}
