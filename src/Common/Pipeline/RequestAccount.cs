namespace LlmRouter.Common.Pipeline;

/// <summary>
/// What one request met on its way through this hop, which its end records (the route log): the guardrails that
/// fired at the entry, its masking, and how many attempts it made. Filled in by the routing, read when it ends,
/// however it ends.
/// </summary>
internal sealed class RequestAccount
{
    public List<Protection.RequestGuardrails.Fired> Guardrails { get; init; } = [];

    public Protection.RequestMasking? Masking { get; set; }

    public int Attempts { get; set; }
}
