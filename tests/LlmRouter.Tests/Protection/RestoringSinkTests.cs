using System.Text;
using System.Text.Json;
using LlmRouter.Common.Chat;
using LlmRouter.Common.Protection;
using LlmRouter.Tests.Fakes;
using LlmRouter.V1;

namespace LlmRouter.Tests.Protection;

/// <summary>
/// The attempt's sink when its request went out masked: text and every tool call's arguments come back restored
/// whatever their pieces, what is held back goes out before the completion, and the client is never left with a
/// written frame it was not sent (a held-back frame that owed a flush still flushes).
/// </summary>
public sealed class RestoringSinkTests
{
    [Fact]
    public async Task ToolCallArguments_SplitAnywhere_AreRestoredPerCallAsJson()
    {
        var session = new MaskingSession(Recognizers.BuiltIn);
        var first = session.Mask("""{"to":"ann@example.com","cc":"bob@example.com"}""");
        var second = session.Mask("""{"iban":"DE89 3704 0044 0532 0130 00"}""");
        for (var cut = 0; cut <= first.Length; cut++)
        {
            var client = new RecordingChatSink();
            var sink = new RestoringSink(client, session);
            await sink.DeltaAsync(Call(0, "call_1", "send", first[..cut]), flush: true, CancellationToken.None);
            await sink.DeltaAsync(Call(1, "call_2", "pay", second[..(cut % second.Length)]), flush: true, CancellationToken.None);
            await sink.DeltaAsync(Call(0, "", "", first[cut..]), flush: true, CancellationToken.None);
            await sink.DeltaAsync(Call(1, "", "", second[(cut % second.Length)..]), flush: true, CancellationToken.None);
            await sink.CompletedAsync(new ChatResponse { Completed = new ChatCompleted { FinishReason = FinishReason.ToolCalls } }, CancellationToken.None);

            Assert.Equal("""{"to":"ann@example.com","cc":"bob@example.com"}""", client.Arguments(0));
            Assert.Equal("""{"iban":"DE89 3704 0044 0532 0130 00"}""", client.Arguments(1));
            Assert.Equal(["call_1", "call_2"], client.Frames.Where(f => f.ToolCall?.Id.Length > 0).Select(f => f.ToolCall.Id));
            Assert.Equal(ChatResponse.FrameOneofCase.Completed, client.Frames[^1].FrameCase);
        }
    }

    [Fact]
    public async Task Text_HeldBackAtTheEnd_GoesOutBeforeTheCompletion()
    {
        var session = new MaskingSession(Recognizers.BuiltIn);
        var masked = session.Mask("mail ann@example.com");
        var client = new RecordingChatSink();
        var sink = new RestoringSink(client, session);

        await sink.DeltaAsync(Text(masked + " [EMAIL"), flush: true, CancellationToken.None);
        Assert.Equal("mail ann@example.com ", client.Text);
        await sink.CompletedAsync(new ChatResponse { Completed = new ChatCompleted() }, CancellationToken.None);

        Assert.Equal("mail ann@example.com [EMAIL", client.Text);
        Assert.Equal(ChatResponse.FrameOneofCase.Completed, client.Frames[^1].FrameCase);
    }

    [Fact]
    public async Task HeldBackFrame_ThatOwedAFlush_FlushesWhatWentBefore()
    {
        var session = new MaskingSession(Recognizers.BuiltIn);
        session.Mask("ann@example.com");
        var client = new RecordingChatSink();
        var sink = new RestoringSink(client, session);

        await sink.DeltaAsync(Text("written, "), flush: false, CancellationToken.None);
        await sink.DeltaAsync(Text("[EMA"), flush: true, CancellationToken.None);

        Assert.True(client.Flushed, "the frame written without a flush was left unsent");
        Assert.Equal("written, ", client.Text);
    }

    [Fact]
    public async Task HeldBackToolCallFrame_ThatOwedAFlush_FlushesWithAnEmptyPieceOfTheSameCall()
    {
        var session = new MaskingSession(Recognizers.BuiltIn);
        session.Mask("ann@example.com");
        var client = new RecordingChatSink();
        var sink = new RestoringSink(client, session);

        await sink.DeltaAsync(Call(0, "call_1", "send", "{\"to\":\""), flush: false, CancellationToken.None);
        await sink.DeltaAsync(Call(0, "", "", "[EMA"), flush: true, CancellationToken.None);

        Assert.True(client.Flushed);
        Assert.All(client.Frames, f => Assert.Equal(ChatResponse.FrameOneofCase.ToolCall, f.FrameCase));
        Assert.Equal(0u, client.Frames[^1].ToolCall.Index);
    }

    [Fact]
    public async Task TextHeldBackWhenToolCallsBegin_GoesOutBeforeThem()
    {
        var session = new MaskingSession(Recognizers.BuiltIn);
        session.Mask("ann@example.com");
        var client = new RecordingChatSink();
        var sink = new RestoringSink(client, session);

        await sink.DeltaAsync(Text("Calling [EMA"), flush: true, CancellationToken.None);
        await sink.DeltaAsync(Call(0, "call_1", "send", "{}"), flush: true, CancellationToken.None);

        Assert.Equal(["Calling ", "[EMA"], client.Frames.Where(f => f.Delta is not null).Select(f => f.Delta.Text));
        Assert.Equal(ChatResponse.FrameOneofCase.ToolCall, client.Frames[^1].FrameCase);
    }

    [Fact]
    public async Task JsonAnswer_RestoresValuesEscaped()
    {
        var session = new MaskingSession(Recognizers.BuiltIn);
        session.Mask("password: \"ab\\cd ef\"");
        var client = new RecordingChatSink();
        var sink = new RestoringSink(client, session, jsonAnswer: true);

        await sink.DeltaAsync(Text("{\"secret\": \"[SECRET_1]\"}"), flush: true, CancellationToken.None);

        Assert.Equal("ab\\cd ef", JsonDocument.Parse(client.Text).RootElement.GetProperty("secret").GetString());
    }

    private static ChatResponse Text(string text) => new() { Delta = new TextDelta { Text = text } };

    private static ChatResponse Call(uint index, string id, string name, string arguments) =>
        new() { ToolCall = new ToolCallDelta { Index = index, Id = id, Name = name, Arguments = arguments } };
}
