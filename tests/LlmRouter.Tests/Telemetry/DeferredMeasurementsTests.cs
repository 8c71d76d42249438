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
/// collection even when no drain ran before it, a collection waits for a drain that has taken a measurement off its
/// queue and not yet recorded it, the timer records between collections, nothing is kept while nothing listens,
/// and a queue never grows past its bound. The timers here are fake: nothing drains unless the test says so.
/// The SDK and every listener see every meter of the mesh's name in the process, so these tests run alone
/// (<see cref="MeterCollection"/>), each under a node id of its own.
/// </summary>
[Collection(MeterCollection.Name)]
public sealed class DeferredMeasurementsTests : IDisposable
{
    private static readonly BackendCall Call = new("chat", "simulated", "small", "sim");
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly string _self = $"deferred-{Guid.NewGuid():N}";

    public void Dispose() => _services.Dispose();

    [Fact]
    public void ACollection_RecordsWhatWaits_BeforeItReadsTheInstruments()
    {
        var exported = new CapturingExporter(_self);
        using var provider = Sdk.CreateMeterProviderBuilder()
            .AddMeter(MeshMeter.Name)
            .AddReader(new BaseExportingMetricReader(exported) { TemporalityPreference = MetricReaderTemporalityPreference.Cumulative })
            .Build();
        using var meter = NewMeter(new FakeTimeProvider());
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
        Assert.Equal(0.5, exported.Sum("llmrouter.cost.usd"));
        Assert.Equal($"llmrouter.hop=entry,llmrouter.node={_self},llmrouter.outcome=continued", Assert.Single(exported.Tags["llmrouter.request.duration"]));
        Assert.Equal($"llmrouter.hop.kind=serve,llmrouter.node={_self}", Assert.Single(exported.Tags["llmrouter.hop.added_time"]));
        Assert.Contains($"error.type=UNAVAILABLE,gen_ai.operation.name=chat,gen_ai.provider.name=simulated,gen_ai.request.model=small,llmrouter.backend=sim,llmrouter.node={_self}",
            exported.Tags["gen_ai.server.request.duration"]);
        Assert.Contains("llmrouter.request.duration", exported.Names);
        Assert.DoesNotContain("llmrouter.telemetry.drain", exported.Names);

        // Recorded once: the next collection reads the same sums.
        provider.ForceFlush();
        Assert.Equal((2L, 0.150), exported.Histogram("gen_ai.server.request.duration"));
    }

    [Fact]
    public async Task ACollection_WaitsForADrainThatHoldsAMeasurement()
    {
        var time = new FakeTimeProvider();
        using var meter = NewMeter(time);
        var gate = meter.Meter.CreateHistogram<double>("test.gate");
        using var listener = Listen(meter, out _);
        using var held = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var recorded = new List<double>();
        var deferred = meter.Defer<double>(gate, value =>
        {
            held.Set();
            release.Wait();
            lock (recorded)
            {
                recorded.Add(value);
            }
        });

        deferred.Add(1.5);
        var timer = Task.Run(() => time.Advance(MeshMeter.DrainInterval));
        Assert.True(held.Wait(TimeSpan.FromSeconds(30)), "the timer's drain took the measurement off its queue");
        // What the collection's drain returns to, read the moment it returns: a drain that did not wait would return at
        // once, finding the queue empty, while the measurement is still held (released only once the drain has begun).
        using var collecting = new ManualResetEventSlim();
        var collection = Task.Run(() =>
        {
            collecting.Set();
            meter.Drain();
            lock (recorded)
            {
                return recorded.ToList();
            }
        });
        Assert.True(collecting.Wait(TimeSpan.FromSeconds(30)), "the collection's drain began");
        release.Set();

        Assert.Equal([1.5], await collection);
        await timer;
    }

    [Fact]
    public void BetweenCollections_TheTimerRecordsWhatWaits()
    {
        var time = new FakeTimeProvider();
        using var meter = NewMeter(time);
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
        using var meter = NewMeter(new FakeTimeProvider());
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
        using var meter = NewMeter(new FakeTimeProvider());
        var backend = new BackendMetrics(meter);
        using var listener = Listen(meter, out var recorded);

        for (var i = 0; i < DeferredMeasurements.Limit; i++)
        {
            backend.AdmissionWaited("sim", TimeSpan.FromMilliseconds(1));
        }

        Assert.Empty(recorded);
        backend.AdmissionWaited("sim", TimeSpan.FromMilliseconds(1));
        Assert.Equal(DeferredMeasurements.Limit, recorded.Count);
        Assert.Equal(1, meter.Drain());
    }

    private MeshMeter NewMeter(TimeProvider time) => new(_services.GetRequiredService<IMeterFactory>(), _self, time);

    /// <summary>Every double and long measurement of this test's meter, as recorded.</summary>
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

    /// <summary>The last export's histograms (count and sum over every point), sums and attribute sets, by instrument, of one node; and what it held at all.</summary>
    private sealed class CapturingExporter(string node) : BaseExporter<Metric>
    {
        private readonly Dictionary<string, (long Count, double Sum)> _histograms = [];
        private readonly Dictionary<string, double> _sums = [];

        public Dictionary<string, List<string>> Tags { get; } = [];

        /// <summary>Every instrument the export held a point of, any node's.</summary>
        public HashSet<string> Names { get; } = [];

        public (long Count, double Sum) Histogram(string name)
        {
            var (count, sum) = _histograms[name];
            return (count, Math.Round(sum, 6));
        }

        public double Sum(string name) => Math.Round(_sums[name], 6);

        public override ExportResult Export(in Batch<Metric> batch)
        {
            _histograms.Clear();
            _sums.Clear();
            Tags.Clear();
            Names.Clear();
            foreach (var metric in batch)
            {
                Names.Add(metric.Name);
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

                    Tags.TryAdd(metric.Name, []);
                    Tags[metric.Name].Add(string.Join(",", attributes.Order(StringComparer.Ordinal)));
                    if (metric.MetricType == MetricType.Histogram)
                    {
                        var (count, sum) = _histograms.GetValueOrDefault(metric.Name);
                        _histograms[metric.Name] = (count + point.GetHistogramCount(), sum + point.GetHistogramSum());
                    }
                    else if (metric.MetricType == MetricType.DoubleSum)
                    {
                        _sums[metric.Name] = _sums.GetValueOrDefault(metric.Name) + point.GetSumDouble();
                    }
                }
            }

            return ExportResult.Success;
        }
    }
}

/// <summary>
/// Tests that listen to the mesh's meter in-process run alone: the SDK and a MeterListener see every meter of that
/// name in the process, and another test's host would record into, and drain, what these tests count.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MeterCollection
{
    public const string Name = "process-wide meters";
}
