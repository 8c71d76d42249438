namespace LlmRouter.Node.Backends.Simulated;

/// <summary>A failure the simulated backend injected on purpose (failure_rate or fail_after_tokens).</summary>
internal sealed class SimulatedBackendException(string message) : Exception(message);
