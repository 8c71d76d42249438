using System.Diagnostics;
using System.Diagnostics.Metrics;
using BenchmarkDotNet.Attributes;
using Grpc.Core;
using LlmRouter.Common.Configuration;
using LlmRouter.Common.Routing;
using LlmRouter.Common.Telemetry;
using LlmRouter.V1;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Metrics;

namespace LlmRouter.MicroBenchmarks;

/// <summary>
/// The metrics one chat served on its entry node records (issue 12's cost target): the request's end, its attempt,
/// its route, the hop's added time and the backend call's GenAI measurements, as <c>ChatPipeline</c> and
/// <c>LocalChatExecutor</c> record them. Measured with a cumulative reader collecting (what a Prometheus endpoint
/// keeps), and with nothing listening (the instruments' own check): the difference is what metrics cost a request.
/// The histograms are deferred (DeferredMeasurements): <see cref="OneServedRequest"/> is what the request itself pays,
/// <see cref="OneServedRequestRecorded"/> that and its share of the drain, which records them into the SDK.
/// Beside it, single measurements with 1, 3 and 6 attributes: the SDK's price of a measurement and of each attribute.
/// </summary>
[MemoryDiagnoser]
public class MetricsBenchmarks : IDisposable
{
    private ServiceProvider _services = null!;
    private MeterProvider? _provider;
    private MeshMeter _meter = null!;
    private RouterMetrics _router = null!;
    private BackendMetrics _backend = null!;
    private Histogram<double> _histogram = null!;
    private Counter<long> _counter = null!;
    private readonly BackendCall _call = new("chat", "openai-compatible", "small", "mock");
    private readonly RouteCandidate _candidate = new()
    {
        Node = "n2", Pool = "pool-a", Address = "https://127.0.0.1:7001", Backend = "mock", BackendKind = "openai-compatible",
        Cloud = false, Model = "small", Aliases = [], Kind = ModelKindConfig.Chat, Quality = 0.5, ContextTokens = 8192,
        Features = [], InputPricePerMillion = 0.1, OutputPricePerMillion = 0.3,
    };

    /// <summary>Whether an SDK reader collects the meter (false: no listener, the instruments are disabled).</summary>
    [Params(false, true)]
    public bool Collected { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var services = new ServiceCollection().AddMetrics();
        if (Collected)
        {
            services.AddOpenTelemetry().WithMetrics(builder => builder
                .AddMeter(MeshMeter.Name)
                .AddReader(new BaseExportingMetricReader(new DroppingExporter()) { TemporalityPreference = MetricReaderTemporalityPreference.Cumulative }));
        }

        _services = services.BuildServiceProvider();
        _provider = _services.GetService<MeterProvider>();
        var factory = _services.GetRequiredService<IMeterFactory>();
        _meter = new MeshMeter(factory, "n1", TimeProvider.System);
        var meter = _meter;
        _router = new RouterMetrics(meter);
        _backend = new BackendMetrics(meter);
        _histogram = meter.Meter.CreateHistogram<double>("bench.histogram");
        _counter = meter.Meter.CreateCounter<long>("bench.counter");
    }

    [Benchmark]
    public void OneServedRequest()
    {
        _router.Attempt(_candidate, AttemptResult.Served);
        _router.Routed(_candidate, entry: true);
        _router.HopAdded(serve: true, TimeSpan.FromMilliseconds(0.3));
        _backend.Served(_call, TimeSpan.FromMilliseconds(12), TimeSpan.FromMilliseconds(2), TimeSpan.FromMilliseconds(10), 24, 48, 0.0000168);
        _router.RequestEnded(true, RoutingMode.Auto, RequestOutcome.Whole, StatusCode.OK, TimeSpan.FromMilliseconds(13));
    }

    [Benchmark]
    public void OneServedRequestRecorded()
    {
        OneServedRequest();
        _meter.Drain();
    }

    // One measurement by the number of its attributes: what a measurement costs, and what each attribute adds.
    private static readonly KeyValuePair<string, object?> Node = new(MeshMeter.NodeAttribute, "n1");
    private static readonly KeyValuePair<string, object?> Operation = new("gen_ai.operation.name", "chat");
    private static readonly KeyValuePair<string, object?> Provider = new("gen_ai.provider.name", "openai-compatible");

    [Benchmark]
    public void HistogramWith1() => _histogram.Record(0.01, Node);

    [Benchmark]
    public void HistogramWith3() => _histogram.Record(0.01, Node, Operation, Provider);

    [Benchmark]
    public void HistogramWith6() =>
        _histogram.Record(0.01, new TagList { Node, Operation, Provider, { "gen_ai.request.model", "small" }, { "llmrouter.backend", "mock" }, { "gen_ai.token.type", "input" } });

    [Benchmark]
    public void CounterWith3() => _counter.Add(1, Node, Operation, Provider);

    public void Dispose()
    {
        _meter?.Dispose();
        _provider?.Dispose();
        _services?.Dispose();
        GC.SuppressFinalize(this);
    }

    [GlobalCleanup]
    public void Cleanup() => Dispose();

    private sealed class DroppingExporter : BaseExporter<Metric>
    {
        public override ExportResult Export(in Batch<Metric> batch) => ExportResult.Success;
    }
}
