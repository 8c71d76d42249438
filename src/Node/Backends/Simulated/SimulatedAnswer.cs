using System.Text.Json;
using LlmRouter.Node.Chat;
using Microsoft.Extensions.AI;

namespace LlmRouter.Node.Backends.Simulated;

/// <summary>
/// What the simulated model answers, piece by piece (each piece one paced "token"), decided by the
/// conversation and the options alone, so the same request always gets the same answer:
/// <list type="bullet">
/// <item>Tools offered and tool choice not none: it calls a tool, unless the choice is auto and the last
/// message is a tool result (then it answers in text, so an agent loop ends). It calls the tool the choice
/// names; else the tools the last user message names (in the order named; only the first when parallel
/// calls are off); else the first tool. Arguments satisfy the tool's parameters schema
/// (<see cref="SimulatedJson"/>) and stream in pieces of 8 characters; the call id is derived from the
/// conversation.</item>
/// <item>A JSON schema response format: JSON satisfying the schema; JSON mode: an object with an "answer".</item>
/// <item>An echo backend (<c>simulated.echo</c>): the last user message as it arrived, word by word, so what
/// reached the backend can be read in the answer (masking, for one, shows its placeholders here).</item>
/// <item>A guard backend (<c>simulated.guard_terms</c>): a verdict in Llama Guard's format on the user's messages,
/// <c>unsafe</c> and the category <c>S1</c> on a second line when one of them holds a listed term (in any case), else
/// <c>safe</c>, so the mesh's guard model guardrails can be run without a real guard model.</item>
/// <item>Otherwise the deterministic words of <see cref="SimulatedText"/>.</item>
/// </list>
/// </summary>
internal sealed partial class SimulatedAnswer
{
    private const int PieceLength = 8;

    private readonly ulong _seed;
    private readonly List<AIContent>? _pieces;

    private SimulatedAnswer(ulong seed, int length, List<AIContent>? pieces, bool callsTools)
    {
        _seed = seed;
        Length = length;
        _pieces = pieces;
        CallsTools = callsTools;
    }

    /// <summary>Pieces in the whole answer (before any max_tokens limit).</summary>
    public int Length { get; }

    /// <summary>The answer is tool calls (finish reason tool_calls).</summary>
    public bool CallsTools { get; }

    /// <exception cref="Grpc.Core.RpcException">INVALID_ARGUMENT: a schema asks for more JSON than the simulator writes (the client's input, not a backend failure).</exception>
    public static SimulatedAnswer For(IReadOnlyList<ChatMessage> conversation, ChatOptions? options, ulong seed, int? fixedLength, bool echo = false, IReadOnlyList<string>? guardTerms = null)
    {
        try
        {
            return guardTerms is null ? Plan(conversation, options, seed, fixedLength, echo) : Verdict(conversation, seed, guardTerms);
        }
        catch (SimulatedJsonTooLargeException ex)
        {
            throw new Grpc.Core.RpcException(new Grpc.Core.Status(Grpc.Core.StatusCode.InvalidArgument, $"{(options?.Tools is { Count: > 0 } ? "tools" : "response_format")}: {ex.Message}"));
        }
    }

    private static SimulatedAnswer Plan(IReadOnlyList<ChatMessage> conversation, ChatOptions? options, ulong seed, int? fixedLength, bool echo)
    {
        if (ToolsToCall(conversation, options) is { Count: > 0 } tools)
        {
            var pieces = new List<AIContent>();
            for (var i = 0; i < tools.Count; i++)
            {
                var callId = $"call_{SimulatedText.Mix(seed + (ulong)i):x16}";
                var schema = tools[i].JsonSchema.ValueKind == JsonValueKind.Object ? tools[i].JsonSchema.GetRawText() : "{\"type\":\"object\"}";
                var arguments = SimulatedJson.Instance(schema, SimulatedText.Hash(seed, tools[i].Name));
                pieces.Add(new ToolCallChunk(i, callId, tools[i].Name, ""));
                pieces.AddRange(Split(arguments).Select(chunk => new ToolCallChunk(i, null, null, chunk)));
            }

            return new SimulatedAnswer(seed, pieces.Count, pieces, callsTools: true);
        }

        if (options?.ResponseFormat is ChatResponseFormatJson json)
        {
            var text = json.Schema is { } schema
                ? SimulatedJson.Instance(schema.GetRawText(), seed)
                : JsonSerializer.Serialize(new { answer = string.Concat(Enumerable.Range(0, 6).Select(i => SimulatedText.Token(seed, i))) });
            var pieces = Split(text).Select(chunk => (AIContent)new TextContent(chunk)).ToList();
            return new SimulatedAnswer(seed, pieces.Count, pieces, callsTools: false);
        }

        if (echo && conversation.LastOrDefault(m => m.Role == ChatRole.User) is { Text.Length: > 0 } asked)
        {
            var words = EchoWord().Matches(asked.Text).Select(word => (AIContent)new TextContent(word.Value)).ToList();
            return new SimulatedAnswer(seed, words.Count, words, callsTools: false);
        }

        return new SimulatedAnswer(seed, fixedLength ?? SimulatedText.NaturalLength(seed), null, callsTools: false);
    }

    private static SimulatedAnswer Verdict(IReadOnlyList<ChatMessage> conversation, ulong seed, IReadOnlyList<string> terms)
    {
        var flagged = conversation.Where(m => m.Role == ChatRole.User).Any(m => terms.Any(term => m.Text.Contains(term, StringComparison.OrdinalIgnoreCase)));
        List<AIContent> pieces = flagged ? [new TextContent("unsafe"), new TextContent("\nS1")] : [new TextContent("safe")];
        return new SimulatedAnswer(seed, pieces.Count, pieces, callsTools: false);
    }

    // A word with the spaces after it (leading spaces go with the first).
    [System.Text.RegularExpressions.GeneratedRegex(@"\s*\S+\s*")]
    private static partial System.Text.RegularExpressions.Regex EchoWord();

    /// <summary>The piece at <paramref name="index"/>: text, or a piece of a tool call.</summary>
    public AIContent Piece(int index) => _pieces?[index] ?? new TextContent(SimulatedText.Token(_seed, index));

    private static List<AIFunctionDeclaration> ToolsToCall(IReadOnlyList<ChatMessage> conversation, ChatOptions? options)
    {
        var tools = options?.Tools?.OfType<AIFunctionDeclaration>().ToList() ?? [];
        var mode = options?.ToolMode;
        if (tools.Count == 0 || mode is NoneChatToolMode)
        {
            return [];
        }

        if (mode is RequiredChatToolMode { RequiredFunctionName: { } named })
        {
            return tools.Where(t => t.Name == named).Take(1).ToList();
        }

        if (mode is not RequiredChatToolMode && conversation.Count > 0 && conversation[^1].Role == ChatRole.Tool)
        {
            return [];
        }

        var asked = conversation.LastOrDefault(m => m.Role == ChatRole.User)?.Text ?? "";
        var mentioned = tools
            .Select(tool => (Tool: tool, At: asked.IndexOf(tool.Name, StringComparison.Ordinal)))
            .Where(t => t.At >= 0)
            .OrderBy(t => t.At)
            .Select(t => t.Tool)
            .ToList();
        var chosen = mentioned.Count > 0 ? mentioned : [tools[0]];
        return options?.AllowMultipleToolCalls == false ? chosen.Take(1).ToList() : chosen;
    }

    private static IEnumerable<string> Split(string text)
    {
        for (var at = 0; at < text.Length; at += PieceLength)
        {
            yield return text.Substring(at, Math.Min(PieceLength, text.Length - at));
        }
    }
}
