using System.Diagnostics;

namespace LlmRouter.Common.Hosting;

/// <summary>
/// Listens to ASP.NET Core's activities (propagation data only, nothing recorded), so every request gets an
/// activity from the caller's traceparent, whatever the log level, which every forward and backend call sends on
/// (<see cref="Telemetry.TraceContextHandler"/>): the W3C trace context travels across hops, through nodes and
/// integrators alike.
/// </summary>
public static class TracePropagation
{
    private static readonly Lazy<ActivityListener> Listener = new(() =>
    {
        var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Microsoft.AspNetCore",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.PropagationData,
        };
        ActivitySource.AddActivityListener(listener);
        return listener;
    });

    /// <summary>Starts listening (once per process).</summary>
    public static void Enable() => _ = Listener.Value;
}
