using OpenTelemetry.Trace;

namespace LlmRouter.Common.Telemetry;

/// <summary>
/// Which spans are recorded (DESIGN.md section 14): a trace starts only at a request's <c>chat</c> span, which is
/// created only for a request <see cref="RequestTracing"/> chose or whose caller's trace is sampled
/// (<see cref="RouterSpans.Chat"/>), and every other span follows its parent, so a request is recorded whole across
/// every hop or not at all. A span with no parent that is not a chat (a membership call's gRPC and HTTP spans, a
/// health check, an exporter's own call) is the process's chatter and never starts a trace.
/// </summary>
internal sealed class MeshSampler : Sampler
{
    /// <summary>The name of the span each hop starts for a request (<see cref="RouterSpans.Chat"/>).</summary>
    public const string RequestSpan = "chat";

    private static readonly SamplingResult Recorded = new(SamplingDecision.RecordAndSample);
    private static readonly SamplingResult Dropped = new(SamplingDecision.Drop);

    public override SamplingResult ShouldSample(in SamplingParameters samplingParameters)
    {
        var parent = samplingParameters.ParentContext;
        if (parent.TraceId != default)
        {
            return (parent.TraceFlags & System.Diagnostics.ActivityTraceFlags.Recorded) != 0 ? Recorded : Dropped;
        }

        return samplingParameters.Name == RequestSpan ? Recorded : Dropped;
    }
}
