using System.Text.Json;
using Google.Protobuf;
using LlmRouter.V1;

namespace LlmRouter.Common.Ingress.Anthropic;

/// <summary>What an Anthropic Messages request asks for, beside the chat itself.</summary>
/// <param name="MessagePaths">Where each of the Router API's messages came from in the client's request ("system", "messages[2]", "messages[3].content[1]" for a tool result).</param>
internal sealed record AnthropicMessages(ChatRequest Request, bool Stream, IReadOnlyList<string> MessagePaths)
{
    /// <summary>
    /// The client's name for a field the pipeline's validator named by its Router API path: the message
    /// index as the client sent it, and Anthropic's field names ("tools[0].parameters_json" is
    /// "tools[0].input_schema"). Part indexes count the message's text and image blocks.
    /// </summary>
    public string FieldName(string routerPath)
    {
        var path = routerPath;
        var match = System.Text.RegularExpressions.Regex.Match(path, @"^messages\[(\d+)\]");
        if (match.Success && int.TryParse(match.Groups[1].Value, out var index) && index < MessagePaths.Count)
        {
            path = MessagePaths[index] + path[match.Length..];
        }

        return path
            .Replace("sampling.max_tokens", "max_tokens", StringComparison.Ordinal)
            .Replace("sampling.stop", "stop_sequences", StringComparison.Ordinal)
            .Replace("sampling.", "", StringComparison.Ordinal)
            .Replace(".parameters_json", ".input_schema", StringComparison.Ordinal)
            .Replace("response_format.json_schema.schema_json", "output_config.format.schema", StringComparison.Ordinal)
            .Replace("tool_choice.tool_name", "tool_choice.name", StringComparison.Ordinal)
            .Replace(".tool_call_id", ".tool_use_id", StringComparison.Ordinal)
            .Replace(".arguments_json", ".input", StringComparison.Ordinal)
            .Replace(".parts[", ".content[", StringComparison.Ordinal)
            .Replace(".image", ".source", StringComparison.Ordinal);
    }
}

/// <summary>
/// Reads an Anthropic Messages request (as Anthropic's API reference defines it) into the Router API's
/// ChatRequest: the system prompt, messages of text, image, tool_use and tool_result blocks, sampling,
/// tools and tool choice, and output_config.format (or the beta's output_format) for JSON. A user message's tool_result blocks become tool
/// messages (the Router API's shape) ahead of the rest of that message. A block or tool type the mesh
/// cannot carry, a field of the wrong type and an unknown top-level field are refused with 400 naming the
/// field (inner fields the mesh has no use for are ignored, as the providers ignore them).
/// </summary>
internal static class AnthropicMessagesReader
{
    private static readonly HashSet<string> Ignored = new(StringComparer.Ordinal) { "metadata", "service_tier", "container", "thinking", "top_k" };

    public static AnthropicMessages Read(JsonElement body)
    {
        JsonRead.Object(body, "body");
        var request = new ChatRequest { Sampling = new SamplingParameters() };
        var stream = false;
        var system = new List<ChatMessage>();
        var conversation = new List<(ChatMessage Message, string Path)>();
        foreach (var property in body.EnumerateObject())
        {
            var value = property.Value;
            var name = property.Name;
            if (value.ValueKind == JsonValueKind.Null || Ignored.Contains(name))
            {
                continue;
            }

            switch (name)
            {
                case "model":
                    request.Model = JsonRead.String(value, name);
                    break;
                case "max_tokens":
                    request.Sampling.MaxTokens = JsonRead.PositiveInteger(value, name);
                    break;
                case "system":
                    system.Add(new ChatMessage { Role = Role.System, Content = value.ValueKind == JsonValueKind.String ? JsonRead.String(value, "system") : TextOf(value, "system") });
                    break;
                case "messages":
                    var index = 0;
                    foreach (var message in JsonRead.Array(value, name).EnumerateArray())
                    {
                        conversation.AddRange(Messages(message, $"messages[{index++}]"));
                    }

                    break;
                case "stream":
                    stream = JsonRead.Bool(value, name);
                    break;
                case "temperature":
                    // Anthropic's 0..1 lies inside the Router API's 0..2 (OpenAI's) and passes unchanged.
                    request.Sampling.Temperature = (float)JsonRead.Number(value, name);
                    break;
                case "top_p":
                    request.Sampling.TopP = (float)JsonRead.Number(value, name);
                    break;
                case "stop_sequences":
                    request.Sampling.Stop.AddRange(JsonRead.Array(value, name).EnumerateArray().Select((stop, i) => JsonRead.String(stop, $"stop_sequences[{i}]")));
                    break;
                case "tools":
                    var t = 0;
                    foreach (var tool in JsonRead.Array(value, name).EnumerateArray())
                    {
                        request.Tools.Add(Tool(tool, $"tools[{t++}]"));
                    }

                    break;
                case "tool_choice":
                    ToolChoiceOf(value, request);
                    break;
                case "output_format":
                    request.ResponseFormat = Format(value, "output_format");
                    break;
                case "output_config":
                    // Structured output as generally available: output_config.format (output_format was the beta's).
                    if (JsonRead.Optional(JsonRead.Object(value, name), "format") is { } format)
                    {
                        request.ResponseFormat = Format(format, "output_config.format");
                    }

                    break;
                default:
                    throw IngressException.Invalid(name, "unknown field: this API takes the fields of Anthropic's Messages API");
            }
        }

        if (request.Model.Length == 0)
        {
            throw IngressException.Invalid("model", "required: a model id, an alias, or \"auto\" (GET /v1/models lists them)");
        }

        if (!request.Sampling.HasMaxTokens)
        {
            throw IngressException.Invalid("max_tokens", "required: the most tokens the answer may have");
        }

        request.Messages.AddRange(system);
        request.Messages.AddRange(conversation.Select(m => m.Message));
        return new AnthropicMessages(request, stream, [.. system.Select(_ => "system"), .. conversation.Select(m => m.Path)]);
    }

    /// <summary>The Router API's messages for one of the client's, each with where it came from.</summary>
    private static IEnumerable<(ChatMessage Message, string Path)> Messages(JsonElement element, string path)
    {
        JsonRead.Object(element, path);
        var role = JsonRead.String(JsonRead.Required(element, "role", path), $"{path}.role");
        var message = new ChatMessage
        {
            Role = role switch
            {
                "user" => Role.User,
                "assistant" => Role.Assistant,
                _ => throw IngressException.Invalid($"{path}.role", $"'{role}' is not a role (use user or assistant; the system prompt goes in system)"),
            },
        };
        var content = JsonRead.Required(element, "content", path);
        if (content.ValueKind == JsonValueKind.String)
        {
            message.Content = JsonRead.String(content, $"{path}.content");
            return [(message, path)];
        }

        var results = new List<(ChatMessage, string)>();
        var j = 0;
        foreach (var block in JsonRead.Array(content, $"{path}.content").EnumerateArray())
        {
            var at = $"{path}.content[{j++}]";
            JsonRead.Object(block, at);
            var type = JsonRead.String(JsonRead.Required(block, "type", at), $"{at}.type");
            switch (type)
            {
                case "text":
                    message.Parts.Add(new ContentPart { Text = JsonRead.String(JsonRead.Required(block, "text", at), $"{at}.text") });
                    break;
                case "image":
                    message.Parts.Add(new ContentPart { Image = Image(JsonRead.Object(JsonRead.Required(block, "source", at), $"{at}.source"), $"{at}.source") });
                    break;
                case "tool_use":
                    message.ToolCalls.Add(new ToolCall
                    {
                        Id = JsonRead.String(JsonRead.Required(block, "id", at), $"{at}.id"),
                        Name = JsonRead.String(JsonRead.Required(block, "name", at), $"{at}.name"),
                        ArgumentsJson = JsonRead.Optional(block, "input") is { } input ? JsonRead.ObjectText(input, $"{at}.input") : "",
                    });
                    break;
                case "tool_result":
                    var result = new ChatMessage { Role = Role.Tool, ToolCallId = JsonRead.String(JsonRead.Required(block, "tool_use_id", at), $"{at}.tool_use_id") };
                    if (JsonRead.Optional(block, "content") is { } output)
                    {
                        result.Content = output.ValueKind == JsonValueKind.String ? JsonRead.String(output, $"{at}.content") : TextOf(output, $"{at}.content");
                    }

                    // The Router API has no error flag on a result: the model is told in the result's text.
                    if (JsonRead.Optional(block, "is_error") is { } failed && JsonRead.Bool(failed, $"{at}.is_error"))
                    {
                        result.Content = "Error: " + result.Content;
                    }

                    results.Add((result, at));
                    break;
                default:
                    throw IngressException.Invalid($"{at}.type", $"'{type}' is not a block type the mesh carries (use text, image, tool_use or tool_result)");
            }
        }

        if (results.Count == 0 && message.Parts.Count == 0 && message.ToolCalls.Count == 0)
        {
            throw IngressException.Invalid($"{path}.content", "must not be empty");
        }

        return message.Parts.Count > 0 || message.ToolCalls.Count > 0 ? [.. results, (message, path)] : results;
    }

    private static ImageInput Image(JsonElement source, string path)
    {
        var type = JsonRead.String(JsonRead.Required(source, "type", path), $"{path}.type");
        switch (type)
        {
            case "base64":
                var data = JsonRead.String(JsonRead.Required(source, "data", path), $"{path}.data");
                try
                {
                    return new ImageInput
                    {
                        Data = ByteString.FromBase64(data),
                        MediaType = JsonRead.String(JsonRead.Required(source, "media_type", path), $"{path}.media_type"),
                    };
                }
                catch (FormatException)
                {
                    throw IngressException.Invalid($"{path}.data", "not base64");
                }

            case "url":
                return new ImageInput { Url = JsonRead.String(JsonRead.Required(source, "url", path), $"{path}.url") };
            default:
                throw IngressException.Invalid($"{path}.type", $"'{type}' is not an image source the mesh carries (use base64 or url)");
        }
    }

    /// <summary>The text of an array of text blocks (a system prompt, a tool result).</summary>
    private static string TextOf(JsonElement blocks, string path)
    {
        var text = new System.Text.StringBuilder();
        var i = 0;
        foreach (var block in JsonRead.Array(blocks, path).EnumerateArray())
        {
            var at = $"{path}[{i++}]";
            var type = JsonRead.String(JsonRead.Required(JsonRead.Object(block, at), "type", at), $"{at}.type");
            if (type != "text")
            {
                throw IngressException.Invalid($"{at}.type", $"'{type}' is not carried here (only text blocks)");
            }

            text.Append(JsonRead.String(JsonRead.Required(block, "text", at), $"{at}.text"));
        }

        return text.ToString();
    }

    private static ToolDefinition Tool(JsonElement element, string path)
    {
        JsonRead.Object(element, path);
        if (JsonRead.Optional(element, "type") is { } type && JsonRead.String(type, $"{path}.type") is var kind && kind != "custom")
        {
            throw IngressException.Invalid($"{path}.type", $"'{kind}' is a server tool of Anthropic's own; the mesh carries client tools (name, description, input_schema)");
        }

        return new ToolDefinition
        {
            Name = JsonRead.String(JsonRead.Required(element, "name", path), $"{path}.name"),
            Description = JsonRead.Optional(element, "description") is { } description ? JsonRead.String(description, $"{path}.description") : "",
            ParametersJson = JsonRead.ObjectText(JsonRead.Required(element, "input_schema", path), $"{path}.input_schema"),
        };
    }

    private static void ToolChoiceOf(JsonElement value, ChatRequest request)
    {
        JsonRead.Object(value, "tool_choice");
        var type = JsonRead.String(JsonRead.Required(value, "type", "tool_choice"), "tool_choice.type");
        request.ToolChoice = type switch
        {
            "auto" => new ToolChoice { Mode = ToolChoiceMode.Auto },
            "any" => new ToolChoice { Mode = ToolChoiceMode.Required },
            "none" => new ToolChoice { Mode = ToolChoiceMode.None },
            "tool" => new ToolChoice { ToolName = JsonRead.String(JsonRead.Required(value, "name", "tool_choice"), "tool_choice.name") },
            _ => throw IngressException.Invalid("tool_choice.type", $"'{type}' is not a tool choice (use auto, any, tool or none)"),
        };
        if (JsonRead.Optional(value, "disable_parallel_tool_use") is { } disable)
        {
            request.ParallelToolCalls = !JsonRead.Bool(disable, "tool_choice.disable_parallel_tool_use");
        }
    }

    private static ResponseFormat Format(JsonElement value, string path)
    {
        JsonRead.Object(value, path);
        var type = JsonRead.String(JsonRead.Required(value, "type", path), $"{path}.type");
        return type == "json_schema"
            ? new ResponseFormat { JsonSchema = new JsonSchemaFormat { SchemaJson = JsonRead.ObjectText(JsonRead.Required(value, "schema", path), $"{path}.schema") } }
            : throw IngressException.Invalid($"{path}.type", $"'{type}' is not an output format (use json_schema)");
    }
}
