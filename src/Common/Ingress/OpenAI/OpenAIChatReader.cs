using System.Text.Json;
using Google.Protobuf;
using LlmRouter.V1;

namespace LlmRouter.Common.Ingress.OpenAI;

/// <summary>What an OpenAI chat completions request asks for, beside the chat itself.</summary>
/// <param name="IncludeUsage">stream_options.include_usage: a last chunk with the usage and no choices.</param>
internal sealed record OpenAIChat(ChatRequest Request, bool Stream, bool IncludeUsage);

/// <summary>
/// Reads an OpenAI chat completions request (as OpenAI's API reference defines it) into the Router API's
/// ChatRequest: messages with text and image parts, tool calls and tool results, sampling, tools, tool
/// choice and response format. A field of the wrong type, a part type the mesh cannot carry (audio, files)
/// and a top-level field it does not know are refused with 400 naming the field; top-level fields with no
/// effect on the answer (user, store, metadata, ...) and inner fields the mesh has no use for (a message's
/// name) are accepted and ignored.
/// </summary>
internal static class OpenAIChatReader
{
    private static readonly HashSet<string> Ignored = new(StringComparer.Ordinal)
    {
        "user", "store", "metadata", "service_tier", "prompt_cache_key", "safety_identifier", "logit_bias",
    };

    public static OpenAIChat Read(JsonElement body)
    {
        JsonRead.Object(body, "body");
        var request = new ChatRequest { Sampling = new SamplingParameters() };
        bool stream = false, includeUsage = false;
        uint? maxTokens = null, maxCompletionTokens = null;
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
                case "messages":
                    var index = 0;
                    foreach (var message in JsonRead.Array(value, name).EnumerateArray())
                    {
                        request.Messages.Add(Message(message, $"messages[{index++}]"));
                    }

                    break;
                case "stream":
                    stream = JsonRead.Bool(value, name);
                    break;
                case "stream_options":
                    includeUsage = JsonRead.Optional(JsonRead.Object(value, name), "include_usage") is { } usage && JsonRead.Bool(usage, "stream_options.include_usage");
                    break;
                case "max_tokens":
                    maxTokens = JsonRead.PositiveInteger(value, name);
                    break;
                case "max_completion_tokens":
                    maxCompletionTokens = JsonRead.PositiveInteger(value, name);
                    break;
                case "temperature":
                    request.Sampling.Temperature = (float)JsonRead.Number(value, name);
                    break;
                case "top_p":
                    request.Sampling.TopP = (float)JsonRead.Number(value, name);
                    break;
                case "presence_penalty":
                    request.Sampling.PresencePenalty = (float)JsonRead.Number(value, name);
                    break;
                case "frequency_penalty":
                    request.Sampling.FrequencyPenalty = (float)JsonRead.Number(value, name);
                    break;
                case "seed":
                    request.Sampling.Seed = JsonRead.Integer(value, name);
                    break;
                case "stop":
                    request.Sampling.Stop.AddRange(value.ValueKind == JsonValueKind.Array
                        ? value.EnumerateArray().Select((stop, i) => JsonRead.String(stop, $"stop[{i}]"))
                        : [JsonRead.String(value, name)]);
                    break;
                case "n":
                    if (JsonRead.Integer(value, name) != 1)
                    {
                        throw IngressException.Invalid(name, "only 1 choice per request is supported");
                    }

                    break;
                case "logprobs":
                    if (JsonRead.Bool(value, name))
                    {
                        throw IngressException.Invalid(name, "log probabilities are not supported");
                    }

                    break;
                case "tools":
                    var t = 0;
                    foreach (var tool in JsonRead.Array(value, name).EnumerateArray())
                    {
                        request.Tools.Add(Tool(tool, $"tools[{t++}]"));
                    }

                    break;
                case "tool_choice":
                    request.ToolChoice = ToolChoiceOf(value);
                    break;
                case "parallel_tool_calls":
                    request.ParallelToolCalls = JsonRead.Bool(value, name);
                    break;
                case "response_format":
                    request.ResponseFormat = Format(value);
                    break;
                default:
                    throw IngressException.Invalid(name, "unknown field: this API takes the fields of OpenAI's chat completions");
            }
        }

        if (request.Model.Length == 0)
        {
            throw IngressException.Invalid("model", "required: a model id, an alias, or \"auto\" (GET /v1/models lists them)");
        }

        if ((maxCompletionTokens ?? maxTokens) is { } limit)
        {
            request.Sampling.MaxTokens = limit;
        }

        return new OpenAIChat(request, stream, includeUsage);
    }

    private static ChatMessage Message(JsonElement element, string path)
    {
        JsonRead.Object(element, path);
        var role = JsonRead.String(JsonRead.Required(element, "role", path), $"{path}.role");
        var message = new ChatMessage
        {
            Role = role switch
            {
                "system" or "developer" => Role.System,
                "user" => Role.User,
                "assistant" => Role.Assistant,
                "tool" => Role.Tool,
                _ => throw IngressException.Invalid($"{path}.role", $"'{role}' is not a role (use system, developer, user, assistant or tool)"),
            },
        };

        if (JsonRead.Optional(element, "content") is { } content)
        {
            if (content.ValueKind == JsonValueKind.String)
            {
                message.Content = JsonRead.String(content, $"{path}.content");
            }
            else
            {
                var j = 0;
                foreach (var part in JsonRead.Array(content, $"{path}.content").EnumerateArray())
                {
                    message.Parts.Add(Part(part, $"{path}.content[{j++}]"));
                }
            }
        }

        if (JsonRead.Optional(element, "tool_calls") is { } calls)
        {
            var k = 0;
            foreach (var call in JsonRead.Array(calls, $"{path}.tool_calls").EnumerateArray())
            {
                var at = $"{path}.tool_calls[{k++}]";
                JsonRead.Object(call, at);
                var function = JsonRead.Object(JsonRead.Required(call, "function", at), $"{at}.function");
                message.ToolCalls.Add(new ToolCall
                {
                    Id = JsonRead.String(JsonRead.Required(call, "id", at), $"{at}.id"),
                    Name = JsonRead.String(JsonRead.Required(function, "name", $"{at}.function"), $"{at}.function.name"),
                    ArgumentsJson = JsonRead.Optional(function, "arguments") is { } arguments ? JsonRead.String(arguments, $"{at}.function.arguments") : "",
                });
            }
        }

        if (JsonRead.Optional(element, "tool_call_id") is { } callId)
        {
            message.ToolCallId = JsonRead.String(callId, $"{path}.tool_call_id");
        }

        return message;
    }

    private static ContentPart Part(JsonElement element, string path)
    {
        JsonRead.Object(element, path);
        var type = JsonRead.String(JsonRead.Required(element, "type", path), $"{path}.type");
        switch (type)
        {
            case "text":
                return new ContentPart { Text = JsonRead.String(JsonRead.Required(element, "text", path), $"{path}.text") };
            case "image_url":
                var image = JsonRead.Object(JsonRead.Required(element, "image_url", path), $"{path}.image_url");
                var url = JsonRead.String(JsonRead.Required(image, "url", $"{path}.image_url"), $"{path}.image_url.url");
                var input = new ImageInput { Detail = JsonRead.Optional(image, "detail") is { } detail ? JsonRead.String(detail, $"{path}.image_url.detail") : "" };
                // A data URL is carried as bytes: every backend takes them, and the node checks them once.
                if (Protocol.ImageTypes.ParseDataUrl(url) is { } inline)
                {
                    input.Data = ByteString.CopyFrom(inline.Data);
                    input.MediaType = inline.MediaType;
                }
                else
                {
                    input.Url = url;
                }

                return new ContentPart { Image = input };
            default:
                throw IngressException.Invalid($"{path}.type", $"'{type}' is not a part type the mesh carries (use text or image_url)");
        }
    }

    private static ToolDefinition Tool(JsonElement element, string path)
    {
        JsonRead.Object(element, path);
        var type = JsonRead.String(JsonRead.Required(element, "type", path), $"{path}.type");
        if (type != "function")
        {
            throw IngressException.Invalid($"{path}.type", $"'{type}' is not a tool type the mesh carries (use function)");
        }

        var function = JsonRead.Object(JsonRead.Required(element, "function", path), $"{path}.function");
        return new ToolDefinition
        {
            Name = JsonRead.String(JsonRead.Required(function, "name", $"{path}.function"), $"{path}.function.name"),
            Description = JsonRead.Optional(function, "description") is { } description ? JsonRead.String(description, $"{path}.function.description") : "",
            ParametersJson = JsonRead.Optional(function, "parameters") is { } parameters ? JsonRead.ObjectText(parameters, $"{path}.function.parameters") : "",
            Strict = JsonRead.Optional(function, "strict") is { } strict && JsonRead.Bool(strict, $"{path}.function.strict"),
        };
    }

    private static ToolChoice ToolChoiceOf(JsonElement value)
    {
        if (value.ValueKind == JsonValueKind.String)
        {
            var mode = JsonRead.String(value, "tool_choice");
            return new ToolChoice
            {
                Mode = mode switch
                {
                    "auto" => ToolChoiceMode.Auto,
                    "none" => ToolChoiceMode.None,
                    "required" => ToolChoiceMode.Required,
                    _ => throw IngressException.Invalid("tool_choice", $"'{mode}' is not a tool choice (use auto, none, required or {{\"type\":\"function\",\"function\":{{\"name\":...}}}})"),
                },
            };
        }

        JsonRead.Object(value, "tool_choice");
        var function = JsonRead.Object(JsonRead.Required(value, "function", "tool_choice"), "tool_choice.function");
        return new ToolChoice { ToolName = JsonRead.String(JsonRead.Required(function, "name", "tool_choice.function"), "tool_choice.function.name") };
    }

    private static ResponseFormat? Format(JsonElement value)
    {
        JsonRead.Object(value, "response_format");
        var type = JsonRead.String(JsonRead.Required(value, "type", "response_format"), "response_format.type");
        switch (type)
        {
            case "text":
                return null;
            case "json_object":
                return new ResponseFormat { JsonObject = new JsonObjectFormat() };
            case "json_schema":
                var schema = JsonRead.Object(JsonRead.Required(value, "json_schema", "response_format"), "response_format.json_schema");
                return new ResponseFormat
                {
                    JsonSchema = new JsonSchemaFormat
                    {
                        Name = JsonRead.Optional(schema, "name") is { } name ? JsonRead.String(name, "response_format.json_schema.name") : "",
                        Description = JsonRead.Optional(schema, "description") is { } description ? JsonRead.String(description, "response_format.json_schema.description") : "",
                        SchemaJson = JsonRead.Optional(schema, "schema") is { } body ? JsonRead.ObjectText(body, "response_format.json_schema.schema") : "",
                        Strict = JsonRead.Optional(schema, "strict") is { } strict && JsonRead.Bool(strict, "response_format.json_schema.strict"),
                    },
                };
            default:
                throw IngressException.Invalid("response_format.type", $"'{type}' is not a response format (use text, json_object or json_schema)");
        }
    }

    /// <summary>
    /// The OpenAI name of a field the pipeline's validator named by its Router API path, so an HTTP client
    /// reads the field it sent: "sampling.temperature" is "temperature", "tools[0].parameters_json" is
    /// "tools[0].function.parameters", "messages[1].parts[0].image" is "messages[1].content[0].image_url".
    /// </summary>
    public static string FieldName(string routerPath)
    {
        var name = Renamed(routerPath);
        return name.EndsWith(".image", StringComparison.Ordinal) ? name + "_url" : name;
    }

    private static string Renamed(string routerPath) => routerPath
        .Replace("sampling.", "", StringComparison.Ordinal)
        .Replace(".parameters_json", ".function.parameters", StringComparison.Ordinal)
        .Replace(".arguments_json", ".function.arguments", StringComparison.Ordinal)
        .Replace("json_schema.schema_json", "json_schema.schema", StringComparison.Ordinal)
        .Replace("tool_choice.tool_name", "tool_choice.function.name", StringComparison.Ordinal)
        .Replace(".parts[", ".content[", StringComparison.Ordinal)
        .Replace(".image.data", ".image_url.url", StringComparison.Ordinal)
        .Replace(".image.url", ".image_url.url", StringComparison.Ordinal)
        .Replace(".image.media_type", ".image_url.url", StringComparison.Ordinal)
        .Replace(".image.detail", ".image_url.detail", StringComparison.Ordinal);
}
