namespace LlmRouter.Node.Backends;

/// <summary>The backend sent nothing for longer than its first_token_timeout or stall_timeout.</summary>
internal sealed class BackendStalledException(string message) : Exception(message);
