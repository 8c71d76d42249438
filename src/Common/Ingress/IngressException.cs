namespace LlmRouter.Common.Ingress;

/// <summary>A request the HTTP ingress refuses before the pipeline sees it: the HTTP status, and a message naming the field.</summary>
/// <param name="Param">The request field at fault (OpenAI's error "param"), when one is.</param>
internal sealed class IngressException(int status, string message, string? param = null) : Exception(message)
{
    public int Status { get; } = status;

    public string? Param { get; } = param;

    /// <summary>A 400 naming the field; the body as a whole is no field (param stays null).</summary>
    public static IngressException Invalid(string param, string message) => new(400, $"{param}: {message}", param == "body" ? null : param);
}
