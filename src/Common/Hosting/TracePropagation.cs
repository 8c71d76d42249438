using System.Diagnostics;

namespace LlmRouter.Common.Hosting;

/// <summary>
/// Listens to ASP.NET Core's and HttpClient's activities (propagation data only, nothing recorded), so
/// every request gets an activity from the caller's traceparent and every forward sends it on, whatever
/// the log level: the W3C trace context travels across hops, through nodes and integrators alike.
/// </summary>
public static class TracePropagation
{
    private static readonly Lazy<ActivityListener> Listener = new(() =>
    {
        var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name is "Microsoft.AspNetCore" or "System.Net.Http",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.PropagationData,
        };
        ActivitySource.AddActivityListener(listener);
        return listener;
    });

    /// <summary>Starts listening (once per process).</summary>
    public static void Enable() => _ = Listener.Value;
}
