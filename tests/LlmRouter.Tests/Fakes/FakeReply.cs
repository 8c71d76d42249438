namespace LlmRouter.Tests.Fakes;

/// <summary>What a fake provider answers to the next requests.</summary>
internal sealed record FakeReply
{
    public IReadOnlyList<string> Tokens { get; init; } = ["Hello", ",", " world", "!"];

    /// <summary>
    /// An echo: the answer is the last user message as the provider received it, streamed in pieces of this many
    /// characters (instead of <see cref="Tokens"/>), so a test reads back exactly what reached the provider.
    /// </summary>
    public int? EchoPieces { get; init; }

    public TimeSpan DelayBeforeFirstToken { get; init; } = TimeSpan.Zero;

    public TimeSpan DelayBetweenTokens { get; init; } = TimeSpan.Zero;

    /// <summary>Answer with this HTTP status and the provider's JSON error body instead of a stream.</summary>
    public int? ErrorStatus { get; init; }

    public string ErrorMessage { get; init; } = "simulated provider error";

    /// <summary>The retry-after header on an error reply.</summary>
    public int? RetryAfterSeconds { get; init; }

    /// <summary>One valid delta, then an event whose JSON is broken, then the end of the stream.</summary>
    public bool MalformedStream { get; init; }

    /// <summary>After this many tokens, send nothing more until the client goes away.</summary>
    public int? StallAfterTokens { get; init; }

    public int InputTokens { get; init; } = 7;

    /// <summary>After the text tokens, a tool call streamed as the provider streams it: its start, then each argument piece.</summary>
    public FakeToolCall? ToolCall { get; init; }

    /// <summary>The finish reason the stream ends with, when not the one that fits (some servers end a tool call with "stop").</summary>
    public string? Finish { get; init; }

    /// <summary>
    /// Streams as llama.cpp and other local servers do: no role in the first chunk, and the usage only in the
    /// last chunk (the one with the finish reason), whether or not the client asked for it (OpenAI only).
    /// </summary>
    public bool LocalServerStream { get; init; }

    /// <summary>
    /// The only request field the fake reads a token limit from (llama.cpp reads max_tokens alone); it then
    /// sends at most that many tokens. Null: no limit is read.
    /// </summary>
    public string? TokenLimitField { get; init; }

    /// <summary>After the tokens, an error event (<c>data: {"error": ...}</c>) with this message ends the stream, as vLLM and OpenAI send one (OpenAI only).</summary>
    public string? StreamErrorMessage { get; init; }

    /// <summary>After the tokens, llama.cpp's way of reporting an error mid-stream: an <c>error: {json}</c> line (not an SSE data line), then <c>data: [DONE]</c> (OpenAI only).</summary>
    public string? ErrorLineMessage { get; init; }

    /// <summary>After the tokens the stream just ends, without a finish reason or <c>data: [DONE]</c>, as a server that died between chunks (OpenAI only).</summary>
    public bool CutShort { get; init; }

    /// <summary>Answers a whole chat completion even when a stream was asked for, as some local servers do (OpenAI only).</summary>
    public bool IgnoresStream { get; init; }
}

/// <summary>A tool call a fake provider streams: its id and name first, then the arguments' JSON text in pieces.</summary>
internal sealed record FakeToolCall(string Id, string Name, IReadOnlyList<string> ArgumentPieces);
