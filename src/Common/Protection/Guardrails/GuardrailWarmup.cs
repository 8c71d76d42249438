using LlmRouter.Common.Configuration;
using LlmRouter.Common.Pipeline;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace LlmRouter.Common.Protection;

/// <summary>
/// Builds the configured guardrails' patterns when the process starts, off any request's path. The built-in
/// prompt_injection and jailbreak rules and custom patterns run in linear time (non-backtracking), and such a pattern
/// is built at its first use and builds its automaton as it reads: the first request at the sample mesh's entry node
/// (`up`) had its first token after 5.7 to 6.4 s, 2.4 s with this, the next ones after 0.4 to 0.6 s. A request that
/// arrives while this runs waits for the same patterns, no longer than it would have. Patterns of a configuration read
/// later are built at their first use, as before.
/// </summary>
internal sealed partial class GuardrailWarmup(IRouterHost host, ILogger<GuardrailWarmup> logger) : IHostedService
{
    // Letters, digits, spaces and punctuation, in the words requests use: the states most requests will need.
    private const string Sample = "Hello! What does an LLM router mesh do with 42 requests, e-mails and IBANs? Please answer in English.";

    /// <summary>The warming started at start; done when every configured guardrail's patterns are built.</summary>
    public Task Warmed { get; private set; } = Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var guardrails = host.Current.Mesh.Protection.Guardrails;
        Warmed = Task.Run(() => Warm(guardrails), CancellationToken.None);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private void Warm(IReadOnlyList<GuardrailConfig> guardrails)
    {
        foreach (var guardrail in guardrails)
        {
            try
            {
                _ = GuardrailFinder.FindAll(guardrail, Sample).Count();
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // The request that uses it meets the same failure and reports it; here it only costs the head start.
                LogWarmingFailed(logger, guardrail.Name, ex.Message);
            }
        }
    }

    [LoggerMessage(EventId = 4301, Level = LogLevel.Warning, Message = "Guardrail {Guardrail}: building its patterns at start failed ({Reason}); they are built at first use")]
    private static partial void LogWarmingFailed(ILogger logger, string guardrail, string reason);
}
