using System.Diagnostics.Metrics;
using LlmRouter.Common.Configuration;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace LlmRouter.Common.Telemetry;

/// <summary>
/// OpenTelemetry for every mesh process, wired once for nodes and integrators (DESIGN.md section 14): the
/// mesh's meter, exported to Prometheus on the process's own <c>metrics_listen</c> endpoint and over OTLP
/// when the mesh file names a collector (ASP.NET Core's and HttpClient's own meters are left out: measured,
/// they cost 8% of a node's throughput, and ours say the same per request, hop and backend); spans of the
/// router's work with Grpc.Net.Client's own, over OTLP, one trace per request across every hop, started only
/// by a request (<see cref="MeshSampler"/>). ASP.NET Core's request spans are not recorded: each hop's
/// <c>chat</c> span is its server span (<see cref="RouterSpans.Chat"/>); HttpClient's are not made: the client
/// span above each HTTP call is its span (<see cref="TraceContextHandler"/>); and the OpenTelemetry
/// instrumentation packages' hooks, which ran for every call whether or not it was traced, are not used.
/// With neither configured, nothing listens: the instruments cost a check each and no span is recorded.
/// Read at start: a change to the telemetry section takes a restart.
/// </summary>
internal static class TelemetryHosting
{
    /// <summary>The path Prometheus scrapes on a <c>metrics_listen</c> endpoint.</summary>
    public const string ScrapePath = "/metrics";

    public static IServiceCollection AddMeshTelemetry(this IServiceCollection services, string application, string self, MeshConfig mesh, Uri? metricsListen)
    {
        services.AddMetrics();
        // Named by the id the process was started with: the meter sits below the host in the graph (the host's
        // backends record into it), so it must not ask the host for its id.
        services.AddSingleton(provider => new MeshMeter(provider.GetRequiredService<IMeterFactory>(), self, provider.GetRequiredService<TimeProvider>()));
        services.AddSingleton<RouterMetrics>();
        services.AddSingleton<BackendMetrics>();
        services.AddSingleton<MembershipMetrics>();
        services.AddSingleton<BorderMetrics>();
        services.AddSingleton(new MetricsEndpoint(metricsListen));

        var otlp = mesh.Telemetry.Otlp;
        var metrics = metricsListen is not null || otlp is { Metrics: true };
        var traces = otlp is { Traces: true };
        services.AddSingleton(provider => new RequestTracing(
            traces,
            mesh.Telemetry.TraceSampleRatio,
            new TraceBudget(mesh.Telemetry.MaxTracesPerSecond, provider.GetRequiredService<TimeProvider>()),
            provider.GetRequiredService<Func<double>>()));
        if (!metrics && !traces)
        {
            return services;
        }

        var telemetry = services.AddOpenTelemetry().ConfigureResource(resource => resource
            .AddService(application, serviceInstanceId: self)
            .AddAttributes([new("llmrouter.mesh", mesh.Name), new(MeshMeter.NodeAttribute, self)]));
        if (metrics)
        {
            telemetry.WithMetrics(builder =>
            {
                builder.AddMeter(MeshMeter.Name);
                if (metricsListen is not null)
                {
                    builder.AddPrometheusExporter();
                }

                if (otlp is { Metrics: true })
                {
                    builder.AddOtlpExporter((exporter, reader) =>
                    {
                        Configure(exporter, otlp, "v1/metrics");
                        reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = (int)otlp.MetricExportInterval.TotalMilliseconds;
                    });
                }
            });
        }

        if (traces)
        {
            telemetry.WithTracing(builder => builder
                .SetSampler(new MeshSampler())
                .AddSource(MeshMeter.Name)
                // A forward is Grpc.Net.Client's client span, recorded only under a recorded chat (MeshSampler), whose id
                // the next hop's chat span takes as its parent. HttpClient's own spans are off: a backend call's and a
                // forward's client span is their HTTP call's too (TraceContextHandler).
                .AddSource(GrpcClientSpans.Source)
                .AddProcessor(new GrpcClientSpans())
                .AddOtlpExporter(exporter => Configure(exporter, otlp!, "v1/traces")));
        }

        return services;
    }

    /// <summary>
    /// Creates the instruments read at collection (membership's, breakers'), and serves <c>/metrics</c> on the metrics
    /// listener's connections and nothing else there; other connections pass on.
    /// </summary>
    public static WebApplication UseMetricsEndpoint(this WebApplication app)
    {
        app.Services.GetRequiredService<MembershipMetrics>();
        var breakers = app.Services.GetRequiredService<Resilience.CopyBreakers>();
        app.Services.GetRequiredService<RouterMetrics>().ObserveCooling(breakers.CoolingDown);
        if (app.Services.GetRequiredService<MetricsEndpoint>().Listen is not { } listen)
        {
            return app;
        }

        // A check of every request's connection: the metrics listener's requests go to a branch of their own. The local
        // port is compared first, so the router's calls pass on without the connection's feature lookup (which a
        // profile of a busy node found at 0.3% of its CPU); the tag then tells the metrics listener from another
        // listener on the same port of another address.
        var port = listen.Port;
        app.MapWhen(context => (port == 0 || context.Connection.LocalPort == port) && context.Features.Get<MetricsListener>() is not null, metrics =>
        {
            metrics.UseOpenTelemetryPrometheusScrapingEndpoint(context => context.Request.Path == ScrapePath);
            metrics.Run(context =>
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return context.Response.WriteAsync($"only {ScrapePath} is served here\n");
            });
        });
        return app;
    }

    /// <summary>The collector's address as the exporter wants it: gRPC takes the base, HTTP the signal's own path.</summary>
    private static void Configure(OtlpExporterOptions exporter, OtlpSettings otlp, string signalPath)
    {
        exporter.Protocol = otlp.Transport == OtlpTransport.Grpc ? OtlpExportProtocol.Grpc : OtlpExportProtocol.HttpProtobuf;
        exporter.Endpoint = otlp.Transport == OtlpTransport.Grpc
            ? otlp.Endpoint
            : new Uri(otlp.Endpoint, otlp.Endpoint.AbsolutePath.TrimEnd('/') + "/" + signalPath);
    }
}

/// <summary>Where this process's Prometheus endpoint listens; null when it has none.</summary>
internal sealed record MetricsEndpoint(Uri? Listen);

/// <summary>Marks a connection that came in on the <c>metrics_listen</c> listener: only <c>/metrics</c> is served there.</summary>
internal sealed record MetricsListener;
