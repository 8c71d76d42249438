using System.Buffers;
using System.Net.Http.Headers;
using System.Text.Json;
using LlmRouter.Common.Configuration;
using LlmRouter.Common.Protocol;
using LlmRouter.Node.Chat;
using LlmRouter.V1;

namespace LlmRouter.Node.Backends.Http;

/// <summary>
/// The body of an OpenAI Chat Completions request, written straight from the Router API's request: a
/// streamed answer with usage in its last chunk, the sampling settings the client set, the token limit in
/// the field the backend reads (<see cref="TokenLimitField"/>), and tools, tool choice, response format,
/// tool calls and tool results as the client wrote them (parameter and response schemas verbatim).
/// </summary>
internal static class OpenAIChatBody
{
    private static readonly MediaTypeHeaderValue Json = new("application/json");

    public static HttpContent Create(ChatRequest request, string upstreamModel, TokenLimitField tokenLimitField)
    {
        var buffer = new ArrayBufferWriter<byte>(1024);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("model", upstreamModel);
            json.WriteStartArray("messages");
            foreach (var message in request.Messages)
            {
                WriteMessage(json, message);
            }

            // A continuation hands the partial answer back as the assistant's turn, so the model goes on from it.
            if (request.Continuation is { PartialText.Length: > 0 } continuation)
            {
                json.WriteStartObject();
                json.WriteString("role", "assistant");
                json.WriteString("content", continuation.PartialText);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteBoolean("stream", true);
            json.WriteStartObject("stream_options");
            json.WriteBoolean("include_usage", true);
            json.WriteEndObject();
            WriteSampling(json, request.Sampling, tokenLimitField);
            WriteTools(json, request);
            WriteResponseFormat(json, request.ResponseFormat);
            json.WriteEndObject();
        }

        return new ReadOnlyMemoryContent(buffer.WrittenMemory) { Headers = { ContentType = Json } };
    }

    private static void WriteMessage(Utf8JsonWriter json, V1.ChatMessage message)
    {
        json.WriteStartObject();
        json.WriteString("role", Role(message.Role));
        if (message.Role == V1.Role.Tool)
        {
            // A tool result is one string: the message's text, whole.
            json.WriteString("tool_call_id", message.ToolCallId);
            json.WriteString("content", message.Content + string.Concat(message.Parts.Where(p => p.PartCase == ContentPart.PartOneofCase.Text).Select(p => p.Text)));
            json.WriteEndObject();
            return;
        }

        if (message.Parts.Count > 0)
        {
            json.WriteStartArray("content");
            if (message.Content.Length > 0)
            {
                WriteTextPart(json, message.Content);
            }

            foreach (var part in message.Parts)
            {
                if (part.PartCase == ContentPart.PartOneofCase.Image)
                {
                    WriteImagePart(json, part.Image);
                }
                else
                {
                    WriteTextPart(json, part.Text);
                }
            }

            json.WriteEndArray();
        }
        else if (message.Content.Length == 0 && message.ToolCalls.Count > 0)
        {
            // An assistant turn that only called tools has no content, which OpenAI writes as null.
            json.WriteNull("content");
        }
        else
        {
            json.WriteString("content", message.Content);
        }

        if (message.ToolCalls.Count > 0)
        {
            json.WriteStartArray("tool_calls");
            foreach (var call in message.ToolCalls)
            {
                json.WriteStartObject();
                json.WriteString("id", call.Id);
                json.WriteString("type", "function");
                json.WriteStartObject("function");
                json.WriteString("name", call.Name);
                json.WriteString("arguments", call.ArgumentsJson.Length > 0 ? call.ArgumentsJson : "{}");
                json.WriteEndObject();
                json.WriteEndObject();
            }

            json.WriteEndArray();
        }

        json.WriteEndObject();
    }

    private static void WriteTextPart(Utf8JsonWriter json, string text)
    {
        json.WriteStartObject();
        json.WriteString("type", "text");
        json.WriteString("text", text);
        json.WriteEndObject();
    }

    private static void WriteImagePart(Utf8JsonWriter json, ImageInput image)
    {
        json.WriteStartObject();
        json.WriteString("type", "image_url");
        json.WriteStartObject("image_url");
        if (image.SourceCase == ImageInput.SourceOneofCase.Data)
        {
            // The validator checked that the bytes are a supported image; their signature gives the type.
            var mediaType = ImageTypes.Detect(image.Data.Span) ?? image.MediaType;
            json.WriteString("url", $"data:{mediaType};base64,{Convert.ToBase64String(image.Data.Span)}");
        }
        else
        {
            // A data: URL or an address the backend fetches itself, as OpenAI's own API does.
            json.WriteString("url", image.Url);
        }

        if (image.Detail.Length > 0)
        {
            json.WriteString("detail", image.Detail);
        }

        json.WriteEndObject();
        json.WriteEndObject();
    }

    private static void WriteSampling(Utf8JsonWriter json, SamplingParameters? sampling, TokenLimitField tokenLimitField)
    {
        if (sampling is null)
        {
            return;
        }

        if (sampling.HasTemperature)
        {
            json.WriteNumber("temperature", sampling.Temperature);
        }

        if (sampling.HasTopP)
        {
            json.WriteNumber("top_p", sampling.TopP);
        }

        if (sampling.HasMaxTokens)
        {
            json.WriteNumber(tokenLimitField == TokenLimitField.MaxTokens ? "max_tokens" : "max_completion_tokens", sampling.MaxTokens);
        }

        if (sampling.HasSeed)
        {
            json.WriteNumber("seed", sampling.Seed);
        }

        if (sampling.HasPresencePenalty)
        {
            json.WriteNumber("presence_penalty", sampling.PresencePenalty);
        }

        if (sampling.HasFrequencyPenalty)
        {
            json.WriteNumber("frequency_penalty", sampling.FrequencyPenalty);
        }

        if (sampling.Stop.Count > 0)
        {
            json.WriteStartArray("stop");
            foreach (var stop in sampling.Stop)
            {
                json.WriteStringValue(stop);
            }

            json.WriteEndArray();
        }
    }

    private static void WriteTools(Utf8JsonWriter json, ChatRequest request)
    {
        if (request.Tools.Count == 0)
        {
            return;
        }

        json.WriteStartArray("tools");
        foreach (var tool in request.Tools)
        {
            json.WriteStartObject();
            json.WriteString("type", "function");
            json.WriteStartObject("function");
            json.WriteString("name", tool.Name);
            if (tool.Description.Length > 0)
            {
                json.WriteString("description", tool.Description);
            }

            json.WritePropertyName("parameters");
            json.WriteRawValue(ChatConversion.ParametersJson(tool));
            if (tool.Strict)
            {
                json.WriteBoolean("strict", true);
            }

            json.WriteEndObject();
            json.WriteEndObject();
        }

        json.WriteEndArray();
        if (request.ToolChoice is { } choice)
        {
            if (choice.ChoiceCase == ToolChoice.ChoiceOneofCase.ToolName)
            {
                json.WriteStartObject("tool_choice");
                json.WriteString("type", "function");
                json.WriteStartObject("function");
                json.WriteString("name", choice.ToolName);
                json.WriteEndObject();
                json.WriteEndObject();
            }
            else
            {
                json.WriteString("tool_choice", choice.Mode switch
                {
                    ToolChoiceMode.None => "none",
                    ToolChoiceMode.Required => "required",
                    _ => "auto",
                });
            }
        }

        if (request.HasParallelToolCalls)
        {
            json.WriteBoolean("parallel_tool_calls", request.ParallelToolCalls);
        }
    }

    private static void WriteResponseFormat(Utf8JsonWriter json, ResponseFormat? format)
    {
        switch (format?.FormatCase)
        {
            case ResponseFormat.FormatOneofCase.JsonObject:
                json.WriteStartObject("response_format");
                json.WriteString("type", "json_object");
                json.WriteEndObject();
                break;
            case ResponseFormat.FormatOneofCase.JsonSchema:
                var schema = format.JsonSchema;
                json.WriteStartObject("response_format");
                json.WriteString("type", "json_schema");
                json.WriteStartObject("json_schema");
                json.WriteString("name", ChatConversion.SchemaName(schema));
                if (schema.Description.Length > 0)
                {
                    json.WriteString("description", schema.Description);
                }

                json.WritePropertyName("schema");
                json.WriteRawValue(schema.SchemaJson);
                if (schema.Strict)
                {
                    json.WriteBoolean("strict", true);
                }

                json.WriteEndObject();
                json.WriteEndObject();
                break;
        }
    }

    private static string Role(V1.Role role) => role switch
    {
        V1.Role.System => "system",
        V1.Role.Assistant => "assistant",
        V1.Role.Tool => "tool",
        _ => "user",
    };
}
