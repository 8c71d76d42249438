using Grpc.Core;
using LlmRouter.V1;

namespace LlmRouter.Tests.Node;

/// <summary>Request builders and stream readers shared by the node tests.</summary>
internal static class ChatRequests
{
    public static ChatRequest Ask(string model, string text, uint? maxTokens = null)
    {
        var request = new ChatRequest { Model = model, Sampling = new SamplingParameters() };
        request.Messages.Add(new ChatMessage { Role = Role.User, Content = text });
        if (maxTokens is { } max)
        {
            request.Sampling.MaxTokens = max;
        }

        return request;
    }

    public static async Task<List<ChatResponse>> ReadAll(AsyncServerStreamingCall<ChatResponse> call)
    {
        var frames = new List<ChatResponse>();
        await foreach (var frame in call.ResponseStream.ReadAllAsync())
        {
            frames.Add(frame);
        }

        return frames;
    }

    public static string Text(IEnumerable<ChatResponse> frames) =>
        string.Concat(frames.Where(f => f.Delta is not null).Select(f => f.Delta.Text));
}
