using LlmRouter.Node.Chat;
using LlmRouter.V1;
using Microsoft.Extensions.AI;

namespace LlmRouter.Tests.Node.Chat;

/// <summary>Tool call pieces as servers really send them become the proto's deltas: id and name once per call, calls numbered in order.</summary>
public sealed class ToolCallDeltasTests
{
    private static List<ToolCallDelta> Read(params AIContent[] pieces)
    {
        var reader = new ToolCallDeltas();
        return [.. pieces.SelectMany(piece => reader.Read(new ChatResponseUpdate(ChatRole.Assistant, [piece])))];
    }

    [Fact]
    public void Read_IdAndNameRepeatedOnEveryPiece_SentOnTheFirstDeltaOnly()
    {
        var deltas = Read(new ToolCallChunk(0, "call_a", "get_weather", "{\"ci"), new ToolCallChunk(0, "call_a", "get_weather", "ty\":1}"));

        Assert.Equal([new ToolCallDelta { Id = "call_a", Name = "get_weather", Arguments = "{\"ci" }, new ToolCallDelta { Arguments = "ty\":1}" }], deltas);
    }

    [Fact]
    public void Read_ParallelCallsAllNumberedZero_ANewIdStartsANewCall()
    {
        var deltas = Read(
            new ToolCallChunk(0, "call_a", "get_weather", ""), new ToolCallChunk(0, null, null, "{}"),
            new ToolCallChunk(0, "call_b", "get_time", ""), new ToolCallChunk(0, null, null, "{\"tz\":\"UTC\"}"));

        Assert.Equal(
            [
                new ToolCallDelta { Index = 0, Id = "call_a", Name = "get_weather" }, new ToolCallDelta { Index = 0, Arguments = "{}" },
                new ToolCallDelta { Index = 1, Id = "call_b", Name = "get_time" }, new ToolCallDelta { Index = 1, Arguments = "{\"tz\":\"UTC\"}" },
            ],
            deltas);
    }

    [Fact]
    public void Read_AWholeCallNotStreamed_OneDeltaWithItsArguments()
    {
        var deltas = Read(new FunctionCallContent("call_w", "get_weather", new Dictionary<string, object?> { ["city"] = "Paris" }));

        Assert.Equal([new ToolCallDelta { Index = 0, Id = "call_w", Name = "get_weather", Arguments = "{\"city\":\"Paris\"}" }], deltas);
    }
}
