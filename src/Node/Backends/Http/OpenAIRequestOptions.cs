using LlmRouter.Common.Configuration;
using LlmRouter.Node.Chat;
using LlmRouter.V1;
using Microsoft.Extensions.AI;
using OpenAI.Chat;

namespace LlmRouter.Node.Backends.Http;

/// <summary>
/// The OpenAI chat request for OpenAI and OpenAI-compatible backends, built from the client's request as
/// it was sent: tool parameters and response schemas go out verbatim (Microsoft.Extensions.AI would
/// rewrite them, adding "additionalProperties": false and an empty "required"), and the token limit goes
/// in the field the backend reads (<see cref="TokenLimitField"/>): the official SDK only writes
/// max_completion_tokens, which llama.cpp and other local servers ignore.
/// </summary>
internal static class OpenAIRequestOptions
{
    /// <summary>Moves tools, tool choice, response format and token limit from the generic options into the OpenAI request.</summary>
    public static void Apply(ChatOptions options, ChatRequest request, TokenLimitField field)
    {
        var maxTokens = options.MaxOutputTokens;
        options.Tools = null;
        options.ToolMode = null;
        options.AllowMultipleToolCalls = null;
        options.ResponseFormat = null;
        options.MaxOutputTokens = null;
        options.RawRepresentationFactory = _ => Build(request, field, maxTokens);
    }

    private static ChatCompletionOptions Build(ChatRequest request, TokenLimitField field, int? maxTokens)
    {
        var options = new ChatCompletionOptions();
        foreach (var tool in request.Tools)
        {
            options.Tools.Add(ChatTool.CreateFunctionTool(
                tool.Name,
                tool.Description.Length > 0 ? tool.Description : null,
                BinaryData.FromString(ChatConversion.ParametersJson(tool)),
                tool.Strict ? true : null));
        }

        if (request.Tools.Count > 0 && request.ToolChoice is { } choice)
        {
            options.ToolChoice = choice.ChoiceCase == ToolChoice.ChoiceOneofCase.ToolName
                ? ChatToolChoice.CreateFunctionChoice(choice.ToolName)
                : choice.Mode switch
                {
                    ToolChoiceMode.None => ChatToolChoice.CreateNoneChoice(),
                    ToolChoiceMode.Required => ChatToolChoice.CreateRequiredChoice(),
                    _ => ChatToolChoice.CreateAutoChoice(),
                };
        }

        if (request.Tools.Count > 0 && request.HasParallelToolCalls)
        {
            options.AllowParallelToolCalls = request.ParallelToolCalls;
        }

        options.ResponseFormat = request.ResponseFormat?.FormatCase switch
        {
            ResponseFormat.FormatOneofCase.JsonObject => OpenAI.Chat.ChatResponseFormat.CreateJsonObjectFormat(),
            ResponseFormat.FormatOneofCase.JsonSchema => OpenAI.Chat.ChatResponseFormat.CreateJsonSchemaFormat(
                ChatConversion.SchemaName(request.ResponseFormat.JsonSchema),
                BinaryData.FromString(request.ResponseFormat.JsonSchema.SchemaJson),
                request.ResponseFormat.JsonSchema.Description.Length > 0 ? request.ResponseFormat.JsonSchema.Description : null,
                request.ResponseFormat.JsonSchema.Strict ? true : null),
            _ => null,
        };

        if (maxTokens is { } limit)
        {
            if (field == TokenLimitField.MaxTokens)
            {
                // JsonPatch is marked for evaluation (SCME0001), but it is the SDK's only way to write a field
                // it does not model; the fake server test that reads only max_tokens catches a change.
#pragma warning disable SCME0001
                options.Patch.Set("$.max_tokens"u8, limit);
#pragma warning restore SCME0001
            }
            else
            {
                options.MaxOutputTokenCount = limit;
            }
        }

        return options;
    }
}
