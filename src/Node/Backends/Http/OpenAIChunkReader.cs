using System.Text.Json;
using LlmRouter.Node.Chat;
using Microsoft.Extensions.AI;

namespace LlmRouter.Node.Backends.Http;

/// <summary>
/// Reads one OpenAI chat completion chunk (an SSE event's data), or a whole chat completion, into an
/// update, straight from its UTF-8 bytes. Tolerant the way local servers need: a first chunk without a
/// role, usage only in the last chunk (or in none), chunks without choices, an empty finish reason on
/// every chunk (Ollama, SGLang), tool call pieces that repeat their id and name or number every call 0,
/// and fields it does not know. The first choice is the answer.
/// </summary>
internal static class OpenAIChunkReader
{
    /// <summary>The update in one chunk; null when it carries nothing for the client (a role-only chunk, a keep-alive).</summary>
    /// <exception cref="JsonException">The data is not JSON of a chunk's shape.</exception>
    /// <exception cref="BackendReplyException">The server reported an error inside its stream.</exception>
    public static ChatResponseUpdate? Read(ReadOnlySpan<byte> data)
    {
        var reader = new Utf8JsonReader(data);
        Expect(ref reader, JsonTokenType.StartObject);
        List<AIContent>? contents = null;
        ChatFinishReason? finish = null;
        while (Property(ref reader) is { } name)
        {
            switch (name)
            {
                case "choices" when reader.TokenType == JsonTokenType.StartArray:
                    ReadChoices(ref reader, ref contents, ref finish);
                    break;
                case "usage" when reader.TokenType == JsonTokenType.StartObject:
                    (contents ??= []).Add(ReadUsage(ref reader));
                    break;
                case "error" when reader.TokenType != JsonTokenType.Null:
                    throw new BackendReplyException(null, ErrorMessage(ref reader) ?? "an error event without a message");
                default:
                    reader.Skip();
                    break;
            }
        }

        return contents is null && finish is null ? null : new ChatResponseUpdate(ChatRole.Assistant, contents) { FinishReason = finish };
    }

    /// <summary>The message of an error object (<c>{"message": ...}</c>) or an error string, the reader on it; null when it has none.</summary>
    public static string? ErrorMessage(ref Utf8JsonReader reader)
    {
        if (reader.TokenType == JsonTokenType.String)
        {
            return reader.GetString() is { Length: > 0 } text ? text : null;
        }

        string? message = null;
        if (reader.TokenType == JsonTokenType.StartObject)
        {
            while (Property(ref reader) is { } name)
            {
                if (name == "message" && reader.TokenType == JsonTokenType.String)
                {
                    message = reader.GetString() ?? "";
                }
                else
                {
                    reader.Skip();
                }
            }
        }
        else
        {
            reader.Skip();
        }

        return string.IsNullOrEmpty(message) ? null : message;
    }

    /// <summary>The first choice's delta (a chunk) or message (a whole completion) and finish reason; the other choices are skipped.</summary>
    private static void ReadChoices(ref Utf8JsonReader reader, ref List<AIContent>? contents, ref ChatFinishReason? finish)
    {
        var first = true;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (!first || reader.TokenType != JsonTokenType.StartObject)
            {
                reader.Skip();
                continue;
            }

            first = false;
            while (Property(ref reader) is { } name)
            {
                switch (name)
                {
                    case "delta" or "message" when reader.TokenType == JsonTokenType.StartObject:
                        ReadDelta(ref reader, ref contents);
                        break;
                    case "finish_reason" when reader.TokenType == JsonTokenType.String:
                        // Ollama and SGLang send "" on every chunk before the last: not a finish.
                        if (reader.GetString() is { } reason && !string.IsNullOrWhiteSpace(reason))
                        {
                            finish = FinishReason(reason);
                        }

                        break;
                    default:
                        reader.Skip();
                        break;
                }
            }
        }
    }

    private static void ReadDelta(ref Utf8JsonReader reader, ref List<AIContent>? contents)
    {
        while (Property(ref reader) is { } name)
        {
            switch (name)
            {
                case "content" when reader.TokenType == JsonTokenType.String:
                    if (reader.GetString() is { Length: > 0 } text)
                    {
                        (contents ??= []).Add(new TextContent(text));
                    }

                    break;
                case "tool_calls" when reader.TokenType == JsonTokenType.StartArray:
                    var position = 0;
                    while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                    {
                        (contents ??= []).Add(ReadToolCall(ref reader, position++));
                    }

                    break;
                default:
                    reader.Skip();
                    break;
            }
        }
    }

    /// <summary>A piece of a tool call; a whole completion's calls carry no index, their position stands in.</summary>
    private static ToolCallChunk ReadToolCall(ref Utf8JsonReader reader, int position)
    {
        Expect(ref reader, JsonTokenType.StartObject, read: false);
        var (index, id, name, arguments) = (position, (string?)null, (string?)null, "");
        while (Property(ref reader) is { } property)
        {
            switch (property)
            {
                case "index" when reader.TokenType == JsonTokenType.Number:
                    index = reader.GetInt32();
                    break;
                case "id" when reader.TokenType == JsonTokenType.String:
                    id = reader.GetString();
                    break;
                case "function" when reader.TokenType == JsonTokenType.StartObject:
                    while (Property(ref reader) is { } field)
                    {
                        if (field == "name" && reader.TokenType == JsonTokenType.String)
                        {
                            name = reader.GetString();
                        }
                        else if (field == "arguments" && reader.TokenType == JsonTokenType.String)
                        {
                            arguments = reader.GetString() ?? "";
                        }
                        else
                        {
                            reader.Skip();
                        }
                    }

                    break;
                default:
                    reader.Skip();
                    break;
            }
        }

        return new ToolCallChunk(index, id, name, arguments);
    }

    private static UsageContent ReadUsage(ref Utf8JsonReader reader)
    {
        var usage = new UsageDetails();
        while (Property(ref reader) is { } name)
        {
            long? count = reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var value) ? value : null;
            switch (name)
            {
                case "prompt_tokens":
                    usage.InputTokenCount = count;
                    break;
                case "completion_tokens":
                    usage.OutputTokenCount = count;
                    break;
                case "total_tokens":
                    usage.TotalTokenCount = count;
                    break;
            }

            reader.Skip();
        }

        return new UsageContent(usage);
    }

    private static ChatFinishReason FinishReason(string reason) => reason switch
    {
        "stop" => ChatFinishReason.Stop,
        "length" => ChatFinishReason.Length,
        "tool_calls" or "function_call" => ChatFinishReason.ToolCalls,
        "content_filter" => ChatFinishReason.ContentFilter,
        _ => new ChatFinishReason(reason),
    };

    /// <summary>The next property's name with the reader moved onto its value; null at the end of the object.</summary>
    private static string? Property(ref Utf8JsonReader reader)
    {
        reader.Read();
        if (reader.TokenType == JsonTokenType.EndObject)
        {
            return null;
        }

        var name = reader.TokenType == JsonTokenType.PropertyName ? reader.GetString() : throw new JsonException($"expected a property name, found {reader.TokenType}");
        reader.Read();
        return name;
    }

    private static void Expect(ref Utf8JsonReader reader, JsonTokenType type, bool read = true)
    {
        if (read)
        {
            reader.Read();
        }

        if (reader.TokenType != type)
        {
            throw new JsonException($"expected {type}, found {reader.TokenType}");
        }
    }
}
