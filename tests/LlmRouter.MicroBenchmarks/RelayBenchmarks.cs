using System.Buffers;
using System.Buffers.Binary;
using BenchmarkDotNet.Attributes;
using Google.Protobuf;
using Grpc.Core;
using LlmRouter.Common.Chat;
using LlmRouter.V1;

namespace LlmRouter.MicroBenchmarks;

/// <summary>
/// Relaying one streamed chunk through a forwarding node, as <c>Forwarder.RelayAsync</c> does for
/// each delta frame: the frame is parsed from the upstream gRPC message (5-byte prefix, then protobuf, as
/// grpc-dotnet's deserializer reads it), the first-token timestamp is kept, and the node's real
/// <see cref="ChatOutput"/> (route already committed) writes it to the client's stream, which serialises it
/// with its gRPC prefix into the response buffer as grpc-dotnet's serializer does. HTTP/2 itself is left out.
/// </summary>
[MemoryDiagnoser]
public class RelayBenchmarks
{
    private readonly ReadOnlySequence<byte> _upstream;
    private readonly FramingWriter _downstream = new();
    private ChatOutput _output = null!;
    private const int ChunksPerAnswer = 4096;
    private long _firstTokenAt;
    private long _chunks;

    public RelayBenchmarks()
    {
        // A typical delta: a word or two of text.
        var frame = new ChatResponse { Delta = new TextDelta { Text = " the relay" } };
        var message = new byte[5 + frame.CalculateSize()];
        BinaryPrimitives.WriteUInt32BigEndian(message.AsSpan(1), (uint)(message.Length - 5));
        frame.WriteTo(message.AsSpan(5));
        _upstream = new ReadOnlySequence<byte>(message);
    }

    /// <summary>Whether the node keeps the delivered text (a request that allows continuation after a failover).</summary>
    [Params(false, true)]
    public bool KeepText { get; set; }

    [GlobalSetup]
    public void Setup() => NewAnswer();

    [Benchmark]
    public Task RelayDelta()
    {
        // A new answer every 4096 chunks, so the kept text stays the size of a long answer.
        if (++_chunks % ChunksPerAnswer == 0)
        {
            NewAnswer();
        }

        var frame = ChatResponse.Parser.ParseFrom(_upstream.Slice(5, BinaryPrimitives.ReadUInt32BigEndian(_upstream.FirstSpan[1..])));
        if (frame.FrameCase != ChatResponse.FrameOneofCase.Delta)
        {
            throw new InvalidOperationException("not a delta");
        }

        if (_firstTokenAt == 0)
        {
            _firstTokenAt = TimeProvider.System.GetTimestamp();
        }

        return _output.DeltaAsync(frame, flush: true, CancellationToken.None);
    }

    /// <summary>The client's stream of a new answer, its route committed with the first token.</summary>
    private void NewAnswer()
    {
        _output = new ChatOutput(_downstream, KeepText);
        _output.Route(new RouteInfo { RequestId = "r-1", ServingNode = "n2", Backend = "b0", Model = "model-0" });
        _output.DeltaAsync(new ChatResponse { Delta = new TextDelta { Text = "first" } }, flush: true, CancellationToken.None).GetAwaiter().GetResult();
        _firstTokenAt = 0;
    }

    /// <summary>The client's stream: each message framed as gRPC frames it, into a buffer that is sent (reset) per write.</summary>
    private sealed class FramingWriter : IServerStreamWriter<ChatResponse>
    {
        private readonly ArrayBufferWriter<byte> _buffer = new(256);

        public WriteOptions? WriteOptions { get; set; }

        public Task WriteAsync(ChatResponse message)
        {
            _buffer.ResetWrittenCount();
            var size = message.CalculateSize();
            var prefix = _buffer.GetSpan(5);
            prefix[0] = 0;
            BinaryPrimitives.WriteUInt32BigEndian(prefix[1..], (uint)size);
            _buffer.Advance(5);
            message.WriteTo(_buffer);
            return Task.CompletedTask;
        }
    }
}
