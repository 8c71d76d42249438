using Microsoft.Extensions.DependencyInjection;
using Serilog;
using Serilog.Events;
using Serilog.Formatting.Compact;

namespace LlmRouter.Common.Hosting;

/// <summary>
/// The log set-up of every mesh process (node, integrator): Serilog to standard output, one line per
/// event prefixed with the process's own id, or JSON lines; framework chatter only from warnings up.
/// </summary>
public static class ProcessLogging
{
    // Events waiting for the console; beyond this many, new ones are dropped rather than wait.
    private const int BufferedEvents = 10_000;

    /// <summary>
    /// <c>--log-level</c> of every mesh process. Information shows what changes (membership, routes, reloads)
    /// and every failure; each request's attempt and outcome are Debug lines, one pair per hop.
    /// </summary>
    public static System.CommandLine.Option<LogEventLevel?> LevelOption() => new("--log-level")
    {
        Description = "Least level written: Verbose, Debug (adds a line per request attempt and outcome), Information, Warning, Error or Fatal; " +
            "overrides the mesh file's telemetry.log_level (default Information)",
    };

    /// <param name="self">The node or integrator id, shown on every line as {Self}.</param>
    public static IServiceCollection AddProcessLogging(this IServiceCollection services, string self, LogEventLevel minimum, bool json) =>
        services.AddSerilog(logging =>
        {
            logging.MinimumLevel.Is(minimum)
                .MinimumLevel.Override("Microsoft", LogEventLevel.Warning)
                .MinimumLevel.Override("Grpc", LogEventLevel.Warning)
                .Enrich.FromLogContext()
                .Enrich.WithProperty("Self", self)
                .Enrich.With<TraceOfLine>()
                // A request thread never waits for the console: at thousands of requests a second a slow
                // reader of standard output (a pipe, a container runtime) would otherwise stall streams.
                .WriteTo.Async(
                    sink =>
                    {
                        if (json)
                        {
                            sink.Console(new RenderedCompactJsonFormatter());
                        }
                        else
                        {
                            sink.Console(outputTemplate: "[{Timestamp:HH:mm:ss.fff} {Level:u3}] {Self}: {Message:lj}{Trace}{NewLine}{Exception}");
                        }
                    },
                    bufferSize: BufferedEvents,
                    blockWhenFull: false);
        },
        // Each host keeps its own logger: several hosts in one process (tests, benchmarks) must not replace
        // one another's level and id through the static Log.Logger.
        preserveStaticLogger: true);
}

/// <summary>
/// Puts the trace and span of the line's request at its end (" trace=... span=..."), so a line of a log
/// leads to the request's trace; empty for a line written outside a request. JSON lines carry the same
/// ids as Serilog's own @tr and @sp.
/// </summary>
internal sealed class TraceOfLine : Serilog.Core.ILogEventEnricher
{
    private static readonly LogEventProperty None = new("Trace", new ScalarValue(""));

    public void Enrich(LogEvent logEvent, Serilog.Core.ILogEventPropertyFactory propertyFactory) =>
        logEvent.AddPropertyIfAbsent(logEvent.TraceId is { } trace
            ? new LogEventProperty("Trace", new ScalarValue($" trace={trace} span={logEvent.SpanId}"))
            : None);
}
