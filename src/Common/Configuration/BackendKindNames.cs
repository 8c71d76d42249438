namespace LlmRouter.Common.Configuration;

/// <summary>Backend kinds as the configuration file and the API spell them.</summary>
public static class BackendKindNames
{
    private static readonly (BackendKind Kind, string Name)[] Names =
    [
        (BackendKind.Simulated, "simulated"),
        (BackendKind.OpenAICompatible, "openai-compatible"),
        (BackendKind.OpenAI, "openai"),
        (BackendKind.Anthropic, "anthropic"),
    ];

    public static string Expected => "simulated, openai-compatible, openai or anthropic";

    public static string Name(BackendKind kind) => Names.First(n => n.Kind == kind).Name;

    public static bool TryParse(string text, out BackendKind kind)
    {
        foreach (var (candidate, name) in Names)
        {
            if (string.Equals(name, text, StringComparison.Ordinal))
            {
                kind = candidate;
                return true;
            }
        }

        kind = default;
        return false;
    }
}
