using System.Diagnostics.Metrics;
using Grpc.Core;
using LlmRouter.Common.Telemetry;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using OpenTelemetry;
using OpenTelemetry.Metrics;

namespace LlmRouter.Tests.Telemetry;

/// <summary>
/// The request path's deferred measurements (DeferredMeasurements): what a request hands over is in the very next
/// collection even when no drain ran before it, is recorded by the timer between collections, is not kept while
/// nothing listens, and never waits beyond the queue's bound. The timers here are fake: nothing drains unless the
/// test says so.
/// </summary>
public sealed class DeferredMeasurementsTests
{
    private static readonly BackendCall Call = new("chat", "simulated", "small", "sim");

    [Fact]
    public void ACollection_RecordsWhatWaits_BeforeItReadsTheInstruments()
    {
        // The SDK listens to every meter of the mesh's name in the process, other tests' hosts among them: this one is
        // told apart by its node attribute.
        var self = $"deferred-{Guid.NewGuid():N}";
        var exported = new CapturingExporter(self);
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        using var provider = Sdk.CreateMeterProviderBuilder()
            .AddMeter(MeshMeter.Name)
            .AddReader(new BaseExportingMetricReader(exported) { TemporalityPreference = MetricReaderTemporalityPreference.Cumulative })
            .Build();
        using var meter = new MeshMeter(services.GetRequiredService<IMeterFactory>(), self, new FakeTimeProvider());
        var backend = new BackendMetrics(meter);
        var router = new RouterMetrics(meter);

        backend.Served(Call, TimeSpan.FromMilliseconds(120), TimeSpan.FromMilliseconds(20), TimeSpan.FromMilliseconds(100), 7, 11, 0.5);
        backend.Failed(Call, TimeSpan.FromMilliseconds(30), StatusCode.Unavailable);
        router.RequestEnded(true, LlmRouter.V1.RoutingMode.Auto, RequestOutcome.Continued, StatusCode.OK, TimeSpan.FromMilliseconds(140));
        router.HopAdded(serve: true, TimeSpan.FromMilliseconds(2));
        provider.ForceFlush();

        Assert.Equal((2L, 0.150), exported.Histogram("gen_ai.server.request.duration"));
        Assert.Equal((1L, 0.020), exported.Histogram("gen_ai.server.time_to_first_token"));
        Assert.Equal((1L, 0.010), exported.Histogram("gen_ai.server.time_per_output_token"));
        Assert.Equal((2L, 18.0), exported.Histogram("gen_ai.client.token.usage"));
        Assert.Equal((1L, 0.140), exported.Histogram("llmrouter.request.duration"));
        Assert.Equal((1L, 0.002), exported.Histogram("llmrouter.hop.added_time"));
        Assert.Equal($"llmrouter.hop=entry,llmrouter.node={self},llmrouter.outcome=continued", Assert.Single(exported.Tags["llmrouter.request.duration"]));
        Assert.Contains($"error.type=UNAVAILABLE,gen_ai.operation.name=chat,gen_ai.provider.name=simulated,gen_ai.request.model=small,llmrouter.backend=sim,llmrouter.node={self}",
            exported.Tags["gen_ai.server.request.duration"]);
        Assert.Equal(4, exported.Gauge("llmrouter.telemetry.deferred"));

        // Recorded once: the next collection finds nothing waiting and the same sums.
        provider.ForceFlush();
        Assert.Equal((2L, 0.150), exported.Histogram("gen_ai.server.request.duration"));
        Assert.Equal(0, exported.Gauge("llmrouter.telemetry.deferred"));
    }

    [Fact]
    public void BetweenCollections_TheTimerRecordsWhatWaits()
    {
        var time = new FakeTimeProvider();
        using var meter = new MeshMeter(new DefaultMeterFactory(), "n1", time);
        var backend = new BackendMetrics(meter);
        using var listener = Listen(meter, out var recorded);

        backend.AdmissionWaited("sim", TimeSpan.FromMilliseconds(3));
        backend.AdmissionWaited("sim", TimeSpan.FromMilliseconds(5));
        Assert.Empty(recorded);

        time.Advance(MeshMeter.DrainInterval);
        Assert.Equal([0.003, 0.005], recorded.Where(r => r.Instrument == "llmrouter.admission.wait").Select(r => r.Value));
    }

    [Fact]
    public void WhileNothingListens_NothingIsKept()
    {
        using var meter = new MeshMeter(new DefaultMeterFactory(), "n1", new FakeTimeProvider());
        var backend = new BackendMetrics(meter);
        for (var i = 0; i < 10; i++)
        {
            backend.Served(Call, TimeSpan.FromMilliseconds(10), null, TimeSpan.Zero, 1, 1, 0);
        }

        using var listener = Listen(meter, out var recorded);
        Assert.Equal(0, meter.Drain());
        Assert.Empty(recorded);
    }

    [Fact]
    public void PastTheBound_ARequestRecordsWhatWaits_Itself()
    {
        using var meter = new MeshMeter(new DefaultMeterFactory(), "n1", new FakeTimeProvider());
        var backend = new BackendMetrics(meter);
        using var listener = Listen(meter, out var recorded);

        for (var i = 0; i < Deferred<int>.Limit; i++)
        {
            backend.AdmissionWaited("sim", TimeSpan.FromMilliseconds(1));
        }

        Assert.Empty(recorded);
        backend.AdmissionWaited("sim", TimeSpan.FromMilliseconds(1));
        Assert.Equal(Deferred<int>.Limit + 1, recorded.Count);
        Assert.Equal(0, meter.Drain());
    }

    /// <summary>Every double and long measurement of the mesh's meter, as recorded.</summary>
    private static MeterListener Listen(MeshMeter meter, out List<(string Instrument, double Value)> recorded)
    {
        var seen = new List<(string Instrument, double Value)>();
        var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter == meter.Meter)
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<double>((instrument, value, _, _) => seen.Add((instrument.Name, value)));
        listener.SetMeasurementEventCallback<long>((instrument, value, _, _) => seen.Add((instrument.Name, value)));
        listener.Start();
        recorded = seen;
        return listener;
    }

    private sealed class DefaultMeterFactory : IMeterFactory
    {
        private readonly List<Meter> _meters = [];

        public Meter Create(MeterOptions options)
        {
            var meter = new Meter(options);
            _meters.Add(meter);
            return meter;
        }

        public void Dispose() => _meters.ForEach(m => m.Dispose());
    }

    /// <summary>The last export's histograms (count and sum over every point), gauges and attribute sets, by instrument, of one node.</summary>
    private sealed class CapturingExporter(string node) : BaseExporter<Metric>
    {
        private readonly Dictionary<string, (long Count, double Sum)> _histograms = [];
        private readonly Dictionary<string, long> _gauges = [];

        public Dictionary<string, List<string>> Tags { get; } = [];

        public (long Count, double Sum) Histogram(string name)
        {
            var (count, sum) = _histograms[name];
            return (count, Math.Round(sum, 6));
        }

        public long Gauge(string name) => _gauges[name];

        public override ExportResult Export(in Batch<Metric> batch)
        {
            _histograms.Clear();
            _gauges.Clear();
            Tags.Clear();
            foreach (var metric in batch)
            {
                var tags = Tags[metric.Name] = [];
                foreach (ref readonly var point in metric.GetMetricPoints())
                {
                    var attributes = new List<string>();
                    var mine = false;
                    foreach (var tag in point.Tags)
                    {
                        attributes.Add($"{tag.Key}={tag.Value}");
                        mine |= tag.Key == MeshMeter.NodeAttribute && Equals(tag.Value, node);
                    }

                    if (!mine)
                    {
                        continue;
                    }

                    tags.Add(string.Join(",", attributes.Order(StringComparer.Ordinal)));
                    if (metric.MetricType == MetricType.Histogram)
                    {
                        var (count, sum) = _histograms.GetValueOrDefault(metric.Name);
                        _histograms[metric.Name] = (count + point.GetHistogramCount(), sum + point.GetHistogramSum());
                    }
                    else if (metric.MetricType == MetricType.LongGauge)
                    {
                        _gauges[metric.Name] = point.GetGaugeLastValueLong();
                    }
                }
            }

            return ExportResult.Success;
        }
    }
}
