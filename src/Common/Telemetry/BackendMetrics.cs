using System.Diagnostics;
using System.Diagnostics.Metrics;
using Grpc.Core;

namespace LlmRouter.Common.Telemetry;

/// <summary>
/// A serving node's metrics of its own backends: the calls in the names of the OpenTelemetry GenAI
/// semantic conventions (<c>gen_ai.server.*</c> as the mesh serves them, <c>gen_ai.client.token.usage</c>
/// as the node is the model's client), what each call cost, and each backend's admission (slots in use,
/// the queue, the wait, refusals). Attributes are the model and backend ids of the mesh file and the
/// provider (the backend's kind): bounded by the configuration.
/// </summary>
internal sealed class BackendMetrics
{
    private readonly MeshMeter _meter;
    private readonly Counter<long> _refused;

    // What every backend call records is deferred (DeferredMeasurements): a call hands its figures over, one struct.
    private readonly DeferredMeasurements<CallServed> _served;
    private readonly DeferredMeasurements<CallFailed> _failed;
    private readonly DeferredMeasurements<AdmissionWait> _waited;

    public BackendMetrics(MeshMeter meter)
    {
        _meter = meter;
        var m = meter.Meter;
        var duration = meter.Histogram("gen_ai.server.request.duration", "s",
            "Time a backend took to answer a chat or embedding request served here, from the call to its end",
            TelemetryBuckets.Seconds);
        var firstToken = meter.Histogram("gen_ai.server.time_to_first_token", "s",
            "Time from the backend call to the first token of its answer",
            TelemetryBuckets.FirstToken);
        var perToken = meter.Histogram("gen_ai.server.time_per_output_token", "s",
            "Time per output token after the first: the generation time over the output tokens but one",
            TelemetryBuckets.Milliseconds);
        var tokens = meter.Histogram("gen_ai.client.token.usage", "{token}",
            "Tokens a backend call used, by gen_ai.token.type (input or output), as the backend reported them",
            TelemetryBuckets.Tokens);
        // The unit is an annotation ({USD}), so the Prometheus name stays llmrouter_cost_usd_total.
        var cost = m.CreateCounter<double>("llmrouter.cost.usd", "{USD}",
            "What backend calls cost, from the model's price in the mesh file and the usage the backend reported");
        var admissionWait = meter.Histogram("llmrouter.admission.wait", "s",
            "Time a request waited for a slot of the backend (max_concurrency) before its call",
            TelemetryBuckets.Milliseconds);
        _refused = m.CreateCounter<long>("llmrouter.admission.refused", "{request}",
            "Requests a backend refused because its slots and its queue (max_queue) were full");

        _served = meter.Defer<CallServed>(duration, served =>
        {
            var tags = served.Call.Tags(meter);
            duration.Record(served.Duration, tags);
            if (served.FirstToken is { } first)
            {
                firstToken.Record(first, tags);
            }

            if (served.OutputTokens > 1 && served.Generation > 0)
            {
                perToken.Record(served.Generation / (served.OutputTokens - 1), tags);
            }

            if (served.InputTokens > 0 || served.OutputTokens > 0)
            {
                var input = tags;
                input.Add("gen_ai.token.type", "input");
                tokens.Record(served.InputTokens, input);
                var output = tags;
                output.Add("gen_ai.token.type", "output");
                tokens.Record(served.OutputTokens, output);
            }

            if (served.CostDollars > 0)
            {
                cost.Add(served.CostDollars, tags);
            }
        });
        _failed = meter.Defer<CallFailed>(duration, failed =>
        {
            var tags = failed.Call.Tags(meter);
            tags.Add("error.type", RouterMetrics.StatusName(failed.Status));
            duration.Record(failed.Duration, tags);
        });
        _waited = meter.Defer<AdmissionWait>(admissionWait, waited =>
            admissionWait.Record(waited.Seconds, meter.Node, new("llmrouter.backend", waited.Backend)));
    }

    /// <summary>Slots in use and requests queued per backend, read when an exporter collects.</summary>
    public void ObserveAdmission(Func<IEnumerable<(string Backend, int Running, int Queued)>> backends)
    {
        _meter.Meter.CreateObservableGauge("llmrouter.admission.in_flight",
            () => backends().Select(b => new Measurement<int>(b.Running, _meter.Node, new("llmrouter.backend", b.Backend))),
            "{request}", "Requests holding a slot of the backend now");
        _meter.Meter.CreateObservableGauge("llmrouter.admission.queued",
            () => backends().Select(b => new Measurement<int>(b.Queued, _meter.Node, new("llmrouter.backend", b.Backend))),
            "{request}", "Requests waiting for a slot of the backend now");
    }

    public void AdmissionWaited(string backend, TimeSpan wait) => _waited.Add(new(backend, wait.TotalSeconds));

    public void AdmissionRefused(string backend) => _refused.Add(1, _meter.Node, new("llmrouter.backend", backend));

    /// <summary>One backend call that answered.</summary>
    public void Served(BackendCall call, TimeSpan duration, TimeSpan? firstToken, TimeSpan generation, long inputTokens, long outputTokens, double costDollars) =>
        _served.Add(new(call, duration.TotalSeconds, firstToken?.TotalSeconds, generation.TotalSeconds, inputTokens, outputTokens, costDollars));

    /// <summary>One backend call that failed, with the status it ended in (its error.type).</summary>
    public void Failed(BackendCall call, TimeSpan duration, StatusCode status) => _failed.Add(new(call, duration.TotalSeconds, status));

    // What one call hands over (seconds as doubles, as the instruments take them).
    private readonly record struct CallServed(BackendCall Call, double Duration, double? FirstToken, double Generation, long InputTokens, long OutputTokens, double CostDollars);

    private readonly record struct CallFailed(BackendCall Call, double Duration, StatusCode Status);

    private readonly record struct AdmissionWait(string Backend, double Seconds);
}

/// <summary>What identifies one backend call in the GenAI conventions.</summary>
/// <param name="Operation">gen_ai.operation.name: chat or embeddings.</param>
/// <param name="Provider">gen_ai.provider.name: the backend's kind (openai, anthropic, openai-compatible, simulated).</param>
/// <param name="Model">gen_ai.request.model: the model id the mesh serves it under.</param>
internal readonly record struct BackendCall(string Operation, string Provider, string Model, string Backend)
{
    public TagList Tags(MeshMeter meter) => new()
    {
        meter.Node,
        { "gen_ai.operation.name", Operation },
        { "gen_ai.provider.name", Provider },
        { "gen_ai.request.model", Model },
        { "llmrouter.backend", Backend },
    };
}
