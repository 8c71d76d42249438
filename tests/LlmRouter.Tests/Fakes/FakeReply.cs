namespace LlmRouter.Tests.Fakes;

/// <summary>What a fake provider answers to the next requests.</summary>
internal sealed record FakeReply
{
    public IReadOnlyList<string> Tokens { get; init; } = ["Hello", ",", " world", "!"];

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
}
