using LlmRouter.V1;

namespace LlmRouter.Common.Protocol;

/// <summary>
/// Features a model may have (a model's <c>features</c> in the mesh file) that a request can need. The
/// features a chat needs are read from the request itself, so a client never has to name them: a request
/// that defines tools needs "tools", one that asks for JSON needs "json", one with an image needs "vision".
/// </summary>
internal static class ModelFeatures
{
    /// <summary>Function calling: tool definitions, tool calls and tool results.</summary>
    public static string Tools => "tools";

    /// <summary>Structured output: JSON mode and JSON Schema.</summary>
    public static string Json => "json";

    /// <summary>Image inputs.</summary>
    public static string Vision => "vision";

    /// <summary>The features the request needs, in this order: tools, json, vision; an empty list for plain text.</summary>
    public static IReadOnlyList<string> NeededBy(ChatRequest request)
    {
        bool tools = request.Tools.Count > 0, vision = false;
        for (var i = 0; i < request.Messages.Count && !(tools && vision); i++)
        {
            var message = request.Messages[i];
            tools |= message.Role == Role.Tool || message.ToolCalls.Count > 0;
            for (var j = 0; j < message.Parts.Count && !vision; j++)
            {
                vision = message.Parts[j].PartCase == ContentPart.PartOneofCase.Image;
            }
        }

        var json = request.ResponseFormat is { FormatCase: not ResponseFormat.FormatOneofCase.None };
        if (!tools && !json && !vision)
        {
            return [];
        }

        var needed = new List<string>(3);
        if (tools)
        {
            needed.Add(Tools);
        }

        if (json)
        {
            needed.Add(Json);
        }

        if (vision)
        {
            needed.Add(Vision);
        }

        return needed;
    }

    /// <summary>The request field that makes it need <paramref name="feature"/>, for refusals.</summary>
    public static string Field(string feature) =>
        feature == Tools ? "tools" : feature == Json ? "response_format" : feature == Vision ? "messages[].parts[].image" : "requirements.features";

    /// <summary>Why the request needs <paramref name="feature"/>, for refusals.</summary>
    public static string Reason(string feature) =>
        feature == Tools ? "the request defines tools or carries tool calls or results"
        : feature == Json ? "the request asks for a JSON answer"
        : feature == Vision ? "a message carries an image"
        : "the request's requirements name it";
}
