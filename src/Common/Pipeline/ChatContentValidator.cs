using System.Text.RegularExpressions;
using Grpc.Core;
using LlmRouter.Common.Configuration;
using LlmRouter.Common.Protocol;
using LlmRouter.V1;

namespace LlmRouter.Common.Pipeline;

/// <summary>
/// Checks what a chat carries beyond plain text, the same on every host and whichever ingress it came
/// through: messages with parts and images, tool definitions, tool calls and their results, the tool choice
/// and the response format. The first problem is INVALID_ARGUMENT naming the field's path.
/// </summary>
internal static partial class ChatContentValidator
{
    // OpenAI's limit; Anthropic's is the same order. More tools than this is a client bug, not a use.
    public const int MaxTools = 128;
    private const int MaxCallIdLength = 256;

    public static void Validate(ChatRequest request, ServerSettings limits, bool checkSchemas = true)
    {
        var callIds = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < request.Messages.Count; i++)
        {
            ValidateMessage(request.Messages[i], $"messages[{i}]", callIds, limits);
        }

        ValidateTools(request, limits, checkSchemas);
        ValidateToolChoice(request);
        ValidateResponseFormat(request.ResponseFormat, limits, checkSchemas);
    }

    private static void ValidateMessage(ChatMessage message, string at, HashSet<string> callIds, ServerSettings limits)
    {
        if (message.Role is not (Role.System or Role.User or Role.Assistant or Role.Tool))
        {
            throw Invalid($"{at}.role: unknown role {message.Role} (use ROLE_SYSTEM, ROLE_USER, ROLE_ASSISTANT or ROLE_TOOL)");
        }

        for (var j = 0; j < message.Parts.Count; j++)
        {
            ValidatePart(message.Parts[j], message.Role, $"{at}.parts[{j}]", limits);
        }

        if (message.ToolCalls.Count > 0 && message.Role != Role.Assistant)
        {
            throw Invalid($"{at}.tool_calls: only an assistant message (ROLE_ASSISTANT) carries tool calls");
        }

        for (var k = 0; k < message.ToolCalls.Count; k++)
        {
            var call = message.ToolCalls[k];
            var field = $"{at}.tool_calls[{k}]";
            if (call.Id.Length is 0 or > MaxCallIdLength)
            {
                throw Invalid($"{field}.id: required, 1 to {MaxCallIdLength} characters (the id the model gave the call)");
            }

            if (!callIds.Add(call.Id))
            {
                throw Invalid($"{field}.id: '{call.Id}' is the id of an earlier tool call too; every call needs its own");
            }

            if (!ToolName().IsMatch(call.Name))
            {
                throw Invalid($"{field}.name: '{call.Name}' is not a tool name (1 to 64 of a-z, A-Z, 0-9, '_' and '-')");
            }

            if (JsonSchemaText.ObjectProblem(call.ArgumentsJson) is { } problem)
            {
                throw Invalid($"{field}.arguments_json: {problem}");
            }
        }

        if (message.Role == Role.Tool)
        {
            if (message.ToolCallId.Length == 0)
            {
                throw Invalid($"{at}.tool_call_id: required on a tool result (ROLE_TOOL): the id of the call it answers");
            }

            if (!callIds.Contains(message.ToolCallId))
            {
                throw Invalid($"{at}.tool_call_id: '{message.ToolCallId}' names no tool call of an earlier assistant message");
            }

            return;
        }

        if (message.ToolCallId.Length > 0)
        {
            throw Invalid($"{at}.tool_call_id: only a tool result (ROLE_TOOL) names a call");
        }

        if (string.IsNullOrWhiteSpace(message.Content) && message.Parts.Count == 0 && message.ToolCalls.Count == 0)
        {
            throw Invalid($"{at}.content: must not be empty");
        }
    }

    private static void ValidatePart(ContentPart part, Role role, string at, ServerSettings limits)
    {
        switch (part.PartCase)
        {
            case ContentPart.PartOneofCase.Text:
                if (part.Text.Length == 0)
                {
                    throw Invalid($"{at}.text: must not be empty");
                }

                break;
            case ContentPart.PartOneofCase.Image:
                if (role != Role.User)
                {
                    throw Invalid($"{at}.image: images go in user messages (ROLE_USER) only");
                }

                ValidateImage(part.Image, $"{at}.image", limits);
                break;
            default:
                throw Invalid($"{at}: empty part (set text or image)");
        }
    }

    private static void ValidateImage(ImageInput image, string at, ServerSettings limits)
    {
        if (image.MediaType.Length > 0 && !ImageTypes.IsSupported(image.MediaType))
        {
            throw Invalid($"{at}.media_type: '{image.MediaType}' is not supported (use {ImageTypes.Listed})");
        }

        if (image.Detail is not ("" or "auto" or "low" or "high"))
        {
            throw Invalid($"{at}.detail: '{image.Detail}' is not a detail level (use auto, low or high, or leave it empty)");
        }

        switch (image.SourceCase)
        {
            case ImageInput.SourceOneofCase.Data:
                ValidateImageBytes(image.Data.Span, image.MediaType, $"{at}.data", limits);
                break;
            case ImageInput.SourceOneofCase.Url:
                if (ImageTypes.ParseDataUrl(image.Url) is { } inline)
                {
                    if (!ImageTypes.IsSupported(inline.MediaType))
                    {
                        throw Invalid($"{at}.url: the data URL's type '{inline.MediaType}' is not supported (use {ImageTypes.Listed})");
                    }

                    ValidateImageBytes(inline.Data, inline.MediaType, $"{at}.url", limits);
                    break;
                }

                if (image.Url.StartsWith("data:", StringComparison.OrdinalIgnoreCase))
                {
                    throw Invalid($"{at}.url: a data URL must be data:<media type>;base64,<base64 data>");
                }

                if (!Uri.TryCreate(image.Url, UriKind.Absolute, out var url) || url.Scheme is not ("https" or "http"))
                {
                    throw Invalid($"{at}.url: '{Shorten(image.Url)}' is not an https, http or data URL");
                }

                break;
            default:
                throw Invalid($"{at}: set data (the image's bytes) or url");
        }
    }

    private static void ValidateImageBytes(ReadOnlySpan<byte> data, string declared, string at, ServerSettings limits)
    {
        if (data.Length == 0)
        {
            throw Invalid($"{at}: the image is empty");
        }

        if (data.Length > limits.MaxImageBytes)
        {
            throw Invalid($"{at}: the image is {data.Length} bytes, over this mesh's limit of {limits.MaxImageBytes} bytes (server.max_image_bytes in the mesh file)");
        }

        var detected = ImageTypes.Detect(data)
            ?? throw Invalid($"{at}: not a PNG, JPEG, GIF or WebP image (its first bytes match none of them)");
        if (declared.Length > 0 && !string.Equals(declared, detected, StringComparison.OrdinalIgnoreCase))
        {
            throw Invalid($"{at}: the image is {ImageTypes.Describe(detected)}, but its media type says '{declared}'");
        }
    }

    private static void ValidateTools(ChatRequest request, ServerSettings limits, bool checkSchemas)
    {
        if (request.Tools.Count > MaxTools)
        {
            throw Invalid($"tools: {request.Tools.Count} tools, at most {MaxTools} per request");
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < request.Tools.Count; i++)
        {
            var tool = request.Tools[i];
            if (!ToolName().IsMatch(tool.Name))
            {
                throw Invalid($"tools[{i}].name: '{tool.Name}' is not a tool name (1 to 64 of a-z, A-Z, 0-9, '_' and '-')");
            }

            if (!names.Add(tool.Name))
            {
                throw Invalid($"tools[{i}].name: '{tool.Name}' is defined twice");
            }

            if (tool.ParametersJson.Length > 0)
            {
                ValidateSchemaSize(tool.ParametersJson, $"tools[{i}].parameters_json", limits);
                if (checkSchemas && JsonSchemaText.Problem(tool.ParametersJson) is { } problem)
                {
                    throw Invalid($"tools[{i}].parameters_json: {problem}");
                }

                if (checkSchemas && JsonSchemaText.DeclaredType(tool.ParametersJson) is { } type && type != "object")
                {
                    throw Invalid($"tools[{i}].parameters_json: the arguments are a JSON object, so the schema's type must be \"object\", not \"{type}\"");
                }
            }
        }
    }

    private static void ValidateToolChoice(ChatRequest request)
    {
        var choice = request.ToolChoice;
        if (choice is null)
        {
            return;
        }

        switch (choice.ChoiceCase)
        {
            case ToolChoice.ChoiceOneofCase.Mode when !Enum.IsDefined(choice.Mode):
                throw Invalid($"tool_choice.mode: unknown mode {(int)choice.Mode} (use TOOL_CHOICE_MODE_AUTO, TOOL_CHOICE_MODE_NONE or TOOL_CHOICE_MODE_REQUIRED)");
            case ToolChoice.ChoiceOneofCase.Mode when choice.Mode == ToolChoiceMode.Required && request.Tools.Count == 0:
                throw Invalid("tool_choice.mode: TOOL_CHOICE_MODE_REQUIRED needs at least one tool in tools");
            case ToolChoice.ChoiceOneofCase.ToolName when !request.Tools.Any(t => t.Name == choice.ToolName):
                throw Invalid($"tool_choice.tool_name: '{choice.ToolName}' is not one of the request's tools ({(request.Tools.Count == 0 ? "it defines none" : string.Join(", ", request.Tools.Select(t => t.Name)))})");
        }
    }

    private static void ValidateResponseFormat(ResponseFormat? format, ServerSettings limits, bool checkSchemas)
    {
        if (format?.FormatCase != ResponseFormat.FormatOneofCase.JsonSchema)
        {
            return;
        }

        var schema = format.JsonSchema;
        if (schema.Name.Length > 0 && !ToolName().IsMatch(schema.Name))
        {
            throw Invalid($"response_format.json_schema.name: '{schema.Name}' is not a schema name (1 to 64 of a-z, A-Z, 0-9, '_' and '-')");
        }

        if (schema.SchemaJson.Length == 0)
        {
            throw Invalid("response_format.json_schema.schema_json: required: the JSON Schema the answer must follow (for any JSON object, use json_object)");
        }

        ValidateSchemaSize(schema.SchemaJson, "response_format.json_schema.schema_json", limits);
        if (checkSchemas && JsonSchemaText.Problem(schema.SchemaJson) is { } problem)
        {
            throw Invalid($"response_format.json_schema.schema_json: {problem}");
        }
    }

    // Checking a schema against its meta-schema costs time in proportion to its size (about 10 us per byte):
    // a bound keeps one request from holding a core for seconds.
    private static void ValidateSchemaSize(string schema, string field, ServerSettings limits)
    {
        if (schema.Length > limits.MaxSchemaBytes)
        {
            throw Invalid($"{field}: {schema.Length} characters, over this mesh's limit of {limits.MaxSchemaBytes} (server.max_schema_bytes in the mesh file)");
        }
    }

    private static string Shorten(string text) => text.Length <= 64 ? text : text[..61] + "...";

    private static RpcException Invalid(string message) => new(new Status(StatusCode.InvalidArgument, message));

    [GeneratedRegex("^[A-Za-z0-9_-]{1,64}$")]
    private static partial Regex ToolName();
}
