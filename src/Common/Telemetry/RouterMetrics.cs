using System.Diagnostics;
using System.Diagnostics.Metrics;
using Grpc.Core;
using LlmRouter.Common.Routing;
using LlmRouter.V1;

namespace LlmRouter.Common.Telemetry;

/// <summary>
/// The request pipeline's metrics, the same on nodes and integrators (DESIGN.md sections 11 and 14):
/// requests by outcome, where each was routed, its attempts, failovers and continuations, why candidates
/// were left out, and the time each hop adds. Every attribute takes one of a few fixed values (or a
/// model, backend or member id from the mesh file): no request ids or free text.
/// </summary>
internal sealed class RouterMetrics
{
    private readonly MeshMeter _meter;
    private readonly IndexedCounter _requests;
    private readonly DeferredMeasurements<SlotMeasurement> _duration;
    private readonly IndexedCounter _attempts;
    private readonly Counter<long> _failovers;
    private readonly Counter<long> _continuations;
    private readonly IndexedCounter _routes;
    private readonly Counter<long> _excluded;
    private readonly DeferredMeasurements<SlotMeasurement> _added;
    private readonly Counter<long> _breakers;
    private readonly Counter<long> _masked;
    private readonly Counter<long> _guardrails;
    private readonly Counter<long> _auditConflicts;

    public RouterMetrics(MeshMeter meter)
    {
        _meter = meter;
        var m = meter.Meter;
        // The counters every request adds to are indexed (IndexedCounter): their attribute sets are a few enums' product.
        _requests = new IndexedCounter(m, "llmrouter.requests", "{request}",
            "Chat requests this process finished, by hop (entry or forwarded), routing mode, outcome (whole, continued, failed) and gRPC status",
            Hops.Length * Outcomes.Length * Modes.Length * StatusNames.Length,
            slot => [meter.Node, new("llmrouter.hop", Hops[slot / (Outcomes.Length * Modes.Length * StatusNames.Length)]),
                new("llmrouter.outcome", Outcomes[slot / (Modes.Length * StatusNames.Length) % Outcomes.Length]),
                new("llmrouter.mode", Modes[slot / StatusNames.Length % Modes.Length]), new("llmrouter.status", StatusNames[slot % StatusNames.Length])]);
        // The histograms every request records into are deferred (DeferredMeasurements), under attribute sets built once per slot.
        var duration = meter.Histogram("llmrouter.request.duration", "s",
            "Time from a chat's arrival at this process to its last frame, by hop and outcome",
            TelemetryBuckets.Seconds);
        var durationTags = new SlotTags(Hops.Length * Outcomes.Length,
            slot => [meter.Node, new("llmrouter.hop", Hops[slot / Outcomes.Length]), new("llmrouter.outcome", Outcomes[slot % Outcomes.Length])]);
        _duration = meter.Defer<SlotMeasurement>(duration, measured => duration.Record(measured.Value, durationTags[measured.Slot]));
        _attempts = new IndexedCounter(m, "llmrouter.attempts", "{attempt}",
            "Attempts on candidates, by target (local, peer, integrator) and result (served, failed, skipped while cooling down)",
            Targets.Length * Results.Length,
            slot => [meter.Node, new("llmrouter.target", Targets[slot / Results.Length]), new("llmrouter.attempt.result", Results[slot % Results.Length])]);
        _failovers = m.CreateCounter<long>("llmrouter.failovers", "{failover}",
            "Attempts that failed before the first token and moved the request on to the next candidate, by the failure's status");
        _continuations = m.CreateCounter<long>("llmrouter.continuations", "{continuation}",
            "Answers cut after their first token that another candidate continued from the text already sent");
        _routes = new IndexedCounter(m, "llmrouter.route.decisions", "{request}",
            "Where each hop sent the attempt that served a chat: served_here, forwarded (to a member of the pool) or integrator (across a border), by hop (entry, forwarded)",
            Routes.Length * 2,
            slot => [meter.Node, new("llmrouter.route", Routes[slot / 2]), new("llmrouter.hop", Hops[slot % 2])]);
        _excluded = m.CreateCounter<long>("llmrouter.candidates.excluded", "{candidate}",
            "Candidates that serve the model asked for but were left out of a ranking, by reason (features, requirements, policy_label, scope, cooling)");
        _breakers = m.CreateCounter<long>("llmrouter.breaker.transitions", "{transition}",
            "Breakers of copies (node/backend, or integrator/route:model) that opened (the copy cools down), half-opened or closed");
        _masked = m.CreateCounter<long>("llmrouter.protection.masked", "{value}",
            "Distinct values the entry node masked before a request left (counted once per request), by the placeholder's kind (EMAIL, IBAN, a custom pattern's name)");
        _guardrails = m.CreateCounter<long>("llmrouter.guardrails.fired", "{request}",
            "Requests a guardrail fired on at their entry node, by guardrail (its name in the mesh file) and verdict (block, flag, mask, unchecked)");
        _auditConflicts = m.CreateCounter<long>("llmrouter.audit.conflicts", "{checkpoint}",
            "Signed route log checkpoints of a peer that contradict one kept before, by member and kind (equivocation: two roots for one size; rollback: a smaller tree signed later)");
        var added = meter.Histogram("llmrouter.hop.added_time", "s",
            "What a hop adds to the time to first token: its own time to first token minus the next hop's (forward) or the backend's (serve)",
            TelemetryBuckets.Milliseconds);
        var addedTags = new SlotTags(HopKinds.Length, slot => [meter.Node, new("llmrouter.hop.kind", HopKinds[slot])]);
        _added = meter.Defer<SlotMeasurement>(added, measured => added.Record(measured.Value, addedTags[measured.Slot]));
    }

    /// <summary>A breaker of a copy (node/backend, or integrator/route:model) opened, half-opened (one trial let through) or closed.</summary>
    public void BreakerChanged(string copy, string state) =>
        _breakers.Add(1, _meter.Node, new("llmrouter.copy", copy), new("llmrouter.breaker.state", state));

    /// <summary>Reads the copies cooling down whenever an exporter collects.</summary>
    public void ObserveCooling(Func<IEnumerable<string>> cooling) =>
        _meter.Meter.CreateObservableGauge("llmrouter.breaker.cooling",
            () => cooling().Select(copy => new Measurement<int>(1, _meter.Node, new("llmrouter.copy", copy))),
            "{copy}", "Copies whose breaker is open here: routing skips them while another can serve (one series per copy, 1 while it lasts)");

    /// <summary>A chat that ended here: served (whole or continued) or failed with a status.</summary>
    /// <param name="entry">True at the mesh's entry, false on a hop below it, null for a call refused before its metadata was read.</param>
    public void RequestEnded(bool? entry, RoutingMode mode, RequestOutcome outcome, StatusCode status, TimeSpan duration)
    {
        var hop = HopIndex(entry);
        var ended = OutcomeIndex(outcome);
        _duration.Add(new((hop * Outcomes.Length) + ended, duration.TotalSeconds));
        _requests.Add((((hop * Outcomes.Length) + ended) * Modes.Length * StatusNames.Length) + (ModeIndex(mode) * StatusNames.Length) + StatusIndex(status));
    }

    /// <summary>One attempt's end on one candidate.</summary>
    public void Attempt(RouteCandidate candidate, AttemptResult result) => _attempts.Add((TargetIndex(candidate) * Results.Length) + (int)result);

    public void Failover(StatusCode status) => _failovers.Add(1, _meter.Node, new("llmrouter.status", StatusName(status)));

    public void Continuation() => _continuations.Add(1, _meter.Node);

    /// <summary>The route a hop chose for a served chat: the target of the attempt that served it.</summary>
    public void Routed(RouteCandidate served, bool entry) => _routes.Add((TargetIndex(served) * 2) + HopIndex(entry));

    // Each attribute's values, in the order of their index; a target's index is also its route's (local is served_here).
    private static readonly string[] Hops = ["entry", "forwarded", "unknown"];
    private static readonly string[] Outcomes = ["whole", "continued", "failed"];
    private static readonly string[] Modes = ["auto", "local", "broadcast"];
    private static readonly string[] Targets = ["local", "peer", "integrator"];
    private static readonly string[] Routes = ["served_here", "forwarded", "integrator"];
    private static readonly string[] Results = ["served", "failed", "skipped"];
    private static readonly string[] HopKinds = ["serve", "forward"];
    private const int ServeSlot = 0, ForwardSlot = 1;

    private static int HopIndex(bool? entry) => entry switch
    {
        true => 0,
        false => 1,
        null => 2,
    };

    private static int OutcomeIndex(RequestOutcome outcome) => outcome switch
    {
        RequestOutcome.Whole => 0,
        RequestOutcome.Continued => 1,
        _ => 2,
    };

    private static int ModeIndex(RoutingMode mode) => mode switch
    {
        RoutingMode.Local => 1,
        RoutingMode.Broadcast => 2,
        _ => 0,
    };

    private static int TargetIndex(RouteCandidate candidate) => candidate.IsLocal ? 0 : candidate.IsRoute ? 2 : 1;

    // UNKNOWN for a code outside gRPC's table.
    private static int StatusIndex(StatusCode status) => (int)status is >= 0 and < 17 ? (int)status : (int)StatusCode.Unknown;

    /// <summary>The guardrails that fired on one request.</summary>
    public void Guardrails(IReadOnlyList<Protection.RequestGuardrails.Fired> fired)
    {
        foreach (var guardrail in fired)
        {
            _guardrails.Add(1, _meter.Node, new("llmrouter.guardrail", guardrail.Guardrail),
                new("llmrouter.verdict", guardrail.VerdictName));
        }
    }

    /// <summary>A peer signed a route log checkpoint that contradicts one this host kept (Audit.PeerCheckpoints).</summary>
    public void AuditConflict(string member, string kind) =>
        _auditConflicts.Add(1, _meter.Node, new("llmrouter.member", member), new("llmrouter.conflict", kind));

    /// <summary>The values one request had masked, by kind; nothing is recorded for a request with none.</summary>
    public void Masked(IReadOnlyDictionary<string, int> byLabel)
    {
        foreach (var (label, count) in byLabel)
        {
            _masked.Add(count, _meter.Node, new("llmrouter.kind", label));
        }
    }

    /// <summary>Candidates of the model asked for that one ranking left out, by reason; nothing is recorded for a zero.</summary>
    public void Excluded(string reason, int count)
    {
        if (count > 0)
        {
            _excluded.Add(count, _meter.Node, new("llmrouter.reason", reason));
        }
    }

    /// <param name="serve">True on the serving node (minus the backend's time to first token), false on a forwarding hop (minus the next hop's).</param>
    public void HopAdded(bool serve, TimeSpan added) =>
        _added.Add(new(serve ? ServeSlot : ForwardSlot, Math.Max(0, added.TotalSeconds)));

    /// <summary>The status as gRPC names it (UNAVAILABLE), from a fixed table: no string is built per request.</summary>
    public static string StatusName(StatusCode status) => StatusNames[StatusIndex(status)];

    private static readonly string[] StatusNames =
    [
        "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
    ];
}

/// <summary>How a chat ended at one hop.</summary>
internal enum RequestOutcome
{
    /// <summary>Served by one candidate from its first token to its end.</summary>
    Whole,

    /// <summary>Served, with at least one seam: another candidate continued after a cut.</summary>
    Continued,

    /// <summary>Ended with a status other than OK (the partial flag set when text had gone out).</summary>
    Failed,
}

/// <summary>How one attempt on one candidate ended (in the order of <see cref="RouterMetrics"/>'s attempt slots).</summary>
internal enum AttemptResult
{
    Served,
    Failed,

    /// <summary>Not tried: its breaker was cooling down.</summary>
    Skipped,
}

/// <summary>Histogram bucket boundaries shared by the meters (seconds).</summary>
internal static class TelemetryBuckets
{
    /// <summary>From 5 ms to 5 minutes: whole requests and backend calls.</summary>
    public static readonly IReadOnlyList<double> Seconds = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

    /// <summary>From 0.1 ms to 2.5 s: what a router adds, time per output token.</summary>
    public static readonly IReadOnlyList<double> Milliseconds = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

    /// <summary>GenAI semantic conventions' advice for time to first token (seconds).</summary>
    public static readonly IReadOnlyList<double> FirstToken = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0];

    /// <summary>GenAI semantic conventions' advice for token counts.</summary>
    public static readonly IReadOnlyList<long> Tokens = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864];
}
