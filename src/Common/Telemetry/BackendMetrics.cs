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
    private readonly Histogram<double> _duration;
    private readonly Histogram<double> _firstToken;
    private readonly Histogram<double> _perToken;
    private readonly Histogram<long> _tokens;
    private readonly Counter<double> _cost;
    private readonly Histogram<double> _admissionWait;
    private readonly Counter<long> _refused;

    public BackendMetrics(MeshMeter meter)
    {
        _meter = meter;
        var m = meter.Meter;
        _duration = meter.Histogram("gen_ai.server.request.duration", "s",
            "Time a backend took to answer a chat or embedding request served here, from the call to its end",
            TelemetryBuckets.Seconds);
        _firstToken = meter.Histogram("gen_ai.server.time_to_first_token", "s",
            "Time from the backend call to the first token of its answer",
            TelemetryBuckets.FirstToken);
        _perToken = meter.Histogram("gen_ai.server.time_per_output_token", "s",
            "Time per output token after the first: the generation time over the output tokens but one",
            TelemetryBuckets.Milliseconds);
        _tokens = meter.Histogram("gen_ai.client.token.usage", "{token}",
            "Tokens a backend call used, by gen_ai.token.type (input or output), as the backend reported them",
            TelemetryBuckets.Tokens);
        // The unit is an annotation ({USD}), so the Prometheus name stays llmrouter_cost_usd_total.
        _cost = m.CreateCounter<double>("llmrouter.cost.usd", "{USD}",
            "What backend calls cost, from the model's price in the mesh file and the usage the backend reported");
        _admissionWait = meter.Histogram("llmrouter.admission.wait", "s",
            "Time a request waited for a slot of the backend (max_concurrency) before its call",
            TelemetryBuckets.Milliseconds);
        _refused = m.CreateCounter<long>("llmrouter.admission.refused", "{request}",
            "Requests a backend refused because its slots and its queue (max_queue) were full");
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

    public void AdmissionWaited(string backend, TimeSpan wait) =>
        _admissionWait.Record(wait.TotalSeconds, _meter.Node, new("llmrouter.backend", backend));

    public void AdmissionRefused(string backend) => _refused.Add(1, _meter.Node, new("llmrouter.backend", backend));

    /// <summary>One backend call that answered.</summary>
    public void Served(BackendCall call, TimeSpan duration, TimeSpan? firstToken, TimeSpan generation, long inputTokens, long outputTokens, double costDollars)
    {
        var tags = call.Tags(_meter);
        _duration.Record(duration.TotalSeconds, tags);
        if (firstToken is { } first)
        {
            _firstToken.Record(first.TotalSeconds, tags);
        }

        if (outputTokens > 1 && generation > TimeSpan.Zero)
        {
            _perToken.Record(generation.TotalSeconds / (outputTokens - 1), tags);
        }

        if (inputTokens > 0 || outputTokens > 0)
        {
            var input = tags;
            input.Add("gen_ai.token.type", "input");
            _tokens.Record(inputTokens, input);
            var output = tags;
            output.Add("gen_ai.token.type", "output");
            _tokens.Record(outputTokens, output);
        }

        if (costDollars > 0)
        {
            _cost.Add(costDollars, tags);
        }
    }

    /// <summary>One backend call that failed, with the status it ended in (its error.type).</summary>
    public void Failed(BackendCall call, TimeSpan duration, StatusCode status)
    {
        var tags = call.Tags(_meter);
        tags.Add("error.type", RouterMetrics.StatusName(status));
        _duration.Record(duration.TotalSeconds, tags);
    }
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
