namespace LlmRouter.Common.Ingress;

/// <summary>
/// Marks a connection that came in on a node's HTTP ingress listener (<c>http_listen</c>): only the
/// OpenAI and Anthropic APIs are served there, and they are served nowhere else.
/// </summary>
internal sealed record IngressListener(string Pool);
