using System.Text.Json;
using LlmRouter.Common.Protocol;
using LlmRouter.V1;
using Microsoft.Extensions.AI;

namespace LlmRouter.Node.Chat;

/// <summary>Translates between the Router API and Microsoft.Extensions.AI types.</summary>
internal static class ChatConversion
{
    // A tool that takes no arguments still needs an object schema: every provider requires one.
    private static readonly JsonElement NoArguments = JsonDocument.Parse("""{"type":"object","properties":{}}""").RootElement;

    public static List<Microsoft.Extensions.AI.ChatMessage> Messages(ChatRequest request)
    {
        var messages = new List<Microsoft.Extensions.AI.ChatMessage>(request.Messages.Count + 1);
        foreach (var message in request.Messages)
        {
            messages.Add(new Microsoft.Extensions.AI.ChatMessage(Role(message.Role), Contents(message)));
        }

        // A continuation hands the partial answer back as the assistant's turn, so the model goes on from it.
        if (request.Continuation is { PartialText.Length: > 0 } continuation)
        {
            messages.Add(new Microsoft.Extensions.AI.ChatMessage(ChatRole.Assistant, continuation.PartialText));
        }

        return messages;
    }

    /// <summary>The options every backend takes: sampling, tools, tool choice and response format (Microsoft.Extensions.AI's own terms).</summary>
    public static ChatOptions Options(ChatRequest request, string upstreamModel)
    {
        var options = new ChatOptions { ModelId = upstreamModel };
        if (request.Tools.Count > 0)
        {
            options.Tools = [.. request.Tools.Select(Declaration)];
            options.ToolMode = ToolMode(request.ToolChoice);
            options.AllowMultipleToolCalls = request.HasParallelToolCalls ? request.ParallelToolCalls : null;
        }

        options.ResponseFormat = request.ResponseFormat?.FormatCase switch
        {
            ResponseFormat.FormatOneofCase.JsonObject => ChatResponseFormat.Json,
            ResponseFormat.FormatOneofCase.JsonSchema => ChatResponseFormat.ForJsonSchema(
                Json(request.ResponseFormat.JsonSchema.SchemaJson),
                SchemaName(request.ResponseFormat.JsonSchema),
                NullIfEmpty(request.ResponseFormat.JsonSchema.Description)),
            _ => null,
        };

        var sampling = request.Sampling;
        if (sampling is null)
        {
            return options;
        }

        options.Temperature = sampling.HasTemperature ? sampling.Temperature : null;
        options.TopP = sampling.HasTopP ? sampling.TopP : null;
        options.MaxOutputTokens = sampling.HasMaxTokens ? (int)Math.Min(sampling.MaxTokens, int.MaxValue) : null;
        options.Seed = sampling.HasSeed ? sampling.Seed : null;
        options.PresencePenalty = sampling.HasPresencePenalty ? sampling.PresencePenalty : null;
        options.FrequencyPenalty = sampling.HasFrequencyPenalty ? sampling.FrequencyPenalty : null;
        options.StopSequences = sampling.Stop.Count > 0 ? [.. sampling.Stop] : null;
        return options;
    }

    public static FinishReason FinishReason(ChatFinishReason? reason)
    {
        if (reason == ChatFinishReason.Length)
        {
            return V1.FinishReason.Length;
        }

        if (reason == ChatFinishReason.ContentFilter)
        {
            return V1.FinishReason.ContentFilter;
        }

        return reason == ChatFinishReason.ToolCalls ? V1.FinishReason.ToolCalls : V1.FinishReason.Stop;
    }

    /// <summary>The name a JSON schema format goes by: the client's, else "response" (OpenAI requires one).</summary>
    public static string SchemaName(JsonSchemaFormat format) => format.Name.Length > 0 ? format.Name : "response";

    /// <summary>A tool's parameters schema as JSON text: the client's, else an object schema without properties.</summary>
    public static string ParametersJson(ToolDefinition tool) => tool.ParametersJson.Length > 0 ? tool.ParametersJson : NoArguments.GetRawText();

    private static AIFunctionDeclaration Declaration(ToolDefinition tool) =>
        AIFunctionFactory.CreateDeclaration(tool.Name, tool.Description, tool.ParametersJson.Length > 0 ? Json(tool.ParametersJson) : NoArguments);

    private static ChatToolMode ToolMode(ToolChoice? choice) => choice?.ChoiceCase switch
    {
        ToolChoice.ChoiceOneofCase.ToolName => ChatToolMode.RequireSpecific(choice.ToolName),
        ToolChoice.ChoiceOneofCase.Mode when choice.Mode == ToolChoiceMode.None => ChatToolMode.None,
        ToolChoice.ChoiceOneofCase.Mode when choice.Mode == ToolChoiceMode.Required => ChatToolMode.RequireAny,
        _ => ChatToolMode.Auto,
    };

    /// <summary>A message's content in order: its text, its parts, the tool calls it made, or the tool result it carries.</summary>
    private static List<AIContent> Contents(V1.ChatMessage message)
    {
        var contents = new List<AIContent>(1 + message.Parts.Count + message.ToolCalls.Count);
        if (message.Role == V1.Role.Tool)
        {
            // The result is the message's text, whole: providers take a tool result as one string.
            var result = message.Content + string.Concat(message.Parts.Where(p => p.PartCase == ContentPart.PartOneofCase.Text).Select(p => p.Text));
            contents.Add(new FunctionResultContent(message.ToolCallId, result));
            return contents;
        }

        if (message.Content.Length > 0)
        {
            contents.Add(new TextContent(message.Content));
        }

        foreach (var part in message.Parts)
        {
            contents.Add(part.PartCase == ContentPart.PartOneofCase.Image ? Image(part.Image) : new TextContent(part.Text));
        }

        foreach (var call in message.ToolCalls)
        {
            contents.Add(new FunctionCallContent(call.Id, call.Name, Arguments(call.ArgumentsJson)));
        }

        return contents;
    }

    private static AIContent Image(ImageInput image)
    {
        AIContent content;
        if (image.SourceCase == ImageInput.SourceOneofCase.Data)
        {
            // The validator checked that the bytes are a supported image; their signature gives the type.
            content = new DataContent(image.Data.Memory, ImageTypes.Detect(image.Data.Span) ?? image.MediaType);
        }
        else if (ImageTypes.ParseDataUrl(image.Url) is { } inline)
        {
            // Decoded by the same parser the validator checked it with.
            content = new DataContent(inline.Data, inline.MediaType);
        }
        else
        {
            content = new UriContent(new Uri(image.Url), image.MediaType.Length > 0 ? image.MediaType : "image/*");
        }

        if (image.Detail.Length > 0)
        {
            content.AdditionalProperties = new() { ["detail"] = image.Detail };
        }

        return content;
    }

    private static Dictionary<string, object?> Arguments(string json)
    {
        var arguments = new Dictionary<string, object?>(StringComparer.Ordinal);
        if (json.Length == 0)
        {
            return arguments;
        }

        foreach (var property in Json(json).EnumerateObject())
        {
            arguments[property.Name] = property.Value;
        }

        return arguments;
    }

    private static JsonElement Json(string text)
    {
        using var document = JsonDocument.Parse(text);
        return document.RootElement.Clone();
    }

    private static string? NullIfEmpty(string text) => text.Length > 0 ? text : null;

    private static ChatRole Role(V1.Role role) => role switch
    {
        V1.Role.System => ChatRole.System,
        V1.Role.Assistant => ChatRole.Assistant,
        V1.Role.Tool => ChatRole.Tool,
        _ => ChatRole.User,
    };
}
