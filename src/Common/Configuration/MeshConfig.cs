using LlmRouter.Common.Gossip;

namespace LlmRouter.Common.Configuration;

/// <summary>
/// The whole mesh as one YAML file describes it (mesh.sample.yaml). Every process reads the same file and
/// picks its own part with <see cref="FindNode"/>. Immutable: a reload produces a new instance.
/// </summary>
public sealed record MeshConfig(
    string Name,
    string SourcePath,
    string CertificatesDirectory,
    ServerSettings Server,
    RoutingSettings Routing,
    IReadOnlyList<PoolConfig> Pools)
{
    /// <summary>Membership settings: memberlist's preset by name (lan, wan or local).</summary>
    public GossipSettings Gossip { get; init; } = GossipSettings.Default;

    /// <summary>Where every process keeps its route log (DESIGN.md section 15); relative to the mesh file, route-log/ by default.</summary>
    public Audit.RouteLogSettings Audit { get; init; } = new(System.IO.Path.GetFullPath("route-log"), TimeSpan.FromSeconds(10), 64L * 1024 * 1024);

    /// <summary>Masking before a border (DESIGN.md section 15).</summary>
    public ProtectionConfig Protection { get; init; } = ProtectionConfig.Default;

    /// <summary>Logs, metrics and traces of every process of the mesh.</summary>
    public TelemetrySettings Telemetry { get; init; } = TelemetrySettings.Default;

    /// <summary>Integrators: processes that are members of two or more pools and carry requests between them.</summary>
    public IReadOnlyList<IntegratorConfig> Integrators { get; init; } = [];

    /// <summary>Who may call and as which tenant; closed (a credential required, no operators) without an access section.</summary>
    public AccessSettings Access { get; init; } = AccessSettings.Closed;

    /// <summary>The tenants callers act as: their permissions and quotas.</summary>
    public IReadOnlyList<TenantConfig> Tenants { get; init; } = [];

    public TenantConfig? FindTenant(string name) =>
        Tenants.FirstOrDefault(tenant => string.Equals(tenant.Name, name, StringComparison.Ordinal));

    public IntegratorConfig? FindIntegrator(string id) =>
        Integrators.FirstOrDefault(integrator => string.Equals(integrator.Id, id, StringComparison.Ordinal));

    public IEnumerable<NodeConfig> AllNodes => Pools.SelectMany(pool => pool.Nodes);

    public NodeConfig? FindNode(string nodeId) =>
        AllNodes.FirstOrDefault(node => string.Equals(node.Id, nodeId, StringComparison.Ordinal));
}

/// <summary>One gossip pool: the nodes of one subnet, which can all reach each other.</summary>
public sealed record PoolConfig(string Name, IReadOnlyList<NodeConfig> Nodes)
{
    /// <summary>Where a member joins the pool; empty means every node of the pool in the file.</summary>
    public IReadOnlyList<Uri> Seeds { get; init; } = [];

    public IReadOnlyList<Uri> SeedsOrNodes => Seeds.Count > 0 ? Seeds : Nodes.Select(n => n.Listen).ToList();
}

/// <summary>An integrator: a member of each of its pools, with an address (and a certificate) in each.</summary>
/// <param name="Export">Models it advertises across its borders; empty means every model behind it.</param>
/// <param name="MetricsListen">Where its Prometheus endpoint (<c>/metrics</c>) listens; null: none.</param>
public sealed record IntegratorConfig(string Id, IReadOnlyList<IntegratorPoolConfig> Pools, IReadOnlyList<string> Export, Uri? MetricsListen = null);

/// <summary>An integrator's place in one pool.</summary>
public sealed record IntegratorPoolConfig(string Pool, Uri Listen)
{
    /// <summary>The name of its certificate files in the certificate directory: one certificate per pool.</summary>
    public string CertificateName(string integratorId) => $"{integratorId}.{Pool}";
}

/// <summary>Mesh-wide membership settings: memberlist's preset by name, and overrides of its settings.</summary>
/// <param name="SuspicionMultiplier">Overrides the preset's suspicion multiplier (memberlist's SuspicionMult):
/// a longer suspicion gives a stalled member more time to refute before it is declared dead.</param>
/// <param name="UsageSpread">
/// How long a tenant's usage takes to reach every member, the interval each member paces its share of a quota over
/// (docs/access.md); null: ten gossip intervals of the preset, enough for a pool and one border. Longer for a mesh
/// of many borders in a row.
/// </param>
public sealed record GossipSettings(string Preset, int? SuspicionMultiplier = null, TimeSpan? UsageSpread = null)
{
    public static IReadOnlyList<string> Presets { get; } = ["lan", "wan", "local"];

    public static GossipSettings Default { get; } = new("lan");

    /// <summary>The membership settings every pool of every node and integrator runs with.</summary>
    public MembershipOptions Options()
    {
        var preset = MembershipOptions.Preset(Preset) ?? MembershipOptions.Lan;
        return SuspicionMultiplier is { } multiplier ? preset with { SuspicionMultiplier = multiplier } : preset;
    }

    /// <summary>The usage spread quotas pace over: the setting, or ten gossip intervals (a record crosses a pool in a few, and a border in a few more).</summary>
    public TimeSpan QuotaSpread() => UsageSpread ?? Options().GossipInterval * 10;
}

/// <summary>One llm-router-node: where it listens and which backends it reaches itself.</summary>
/// <param name="HttpListen">Where the node's HTTP ingress (OpenAI and Anthropic APIs) listens; null: no HTTP ingress.</param>
/// <param name="MetricsListen">Where the node's Prometheus endpoint (<c>/metrics</c>) listens; null: none.</param>
public sealed record NodeConfig(string Id, string Pool, Uri Listen, IReadOnlyList<BackendConfig> Backends, Uri? HttpListen = null, Uri? MetricsListen = null);

/// <summary>
/// The mesh file's <c>telemetry</c> section (DESIGN.md section 14): the log level (the <c>--log-level</c>
/// flag overrides it), and where traces and metrics go over OTLP. Prometheus endpoints are set per process
/// (<c>metrics_listen</c>), since each needs an address of its own.
/// </summary>
/// <param name="Otlp">The OTLP collector; null: nothing is exported over OTLP (and no span is recorded).</param>
/// <param name="TraceSampleRatio">The share of requests without a sampled trace of their own that an entry node
/// records; a request that comes with a sampled traceparent (a client tracing its own call) is traced whatever the
/// ratio, and every forwarded request follows its caller's decision, so a trace is whole or absent.</param>
/// <param name="MaxTracesPerSecond">The most requests an entry node traces a second (up to a second's worth at once):
/// of those the ratio picks, and of those whose client sends a sampled trace; 0: no limit. It bounds the traces an
/// entry node starts whatever the load: every request is traced while it serves fewer. Forwarded requests follow the
/// entry's decision and are not counted.</param>
public sealed record TelemetrySettings(Serilog.Events.LogEventLevel LogLevel, OtlpSettings? Otlp, double TraceSampleRatio, int MaxTracesPerSecond)
{
    // Ten traces a second: every request a person sends by hand, or a quiet node serves, is traced, and past that the
    // traces stay a small share of the node's work. A traced request adds an estimated 0.012 ms to its answer at
    // concurrency 1 (5% of the node's own latency), 0.02 ms while the node also exports spans. At 100 a second the telemetry
    // benchmark's node, answering about 340 requests a second one at a time, traced a third of them and its p50 grew
    // by 5 to 7% (docs/benchmarks.md).
    public static TelemetrySettings Default { get; } = new(Serilog.Events.LogEventLevel.Information, null, 1.0, 10);
}

/// <summary>An OTLP collector: where, over which protocol, what is sent, and how often metrics are pushed.</summary>
public sealed record OtlpSettings(Uri Endpoint, OtlpTransport Transport, bool Traces, bool Metrics, TimeSpan MetricExportInterval);

/// <summary>OTLP's two transports: gRPC (port 4317 by convention) and HTTP with protobuf bodies (4318).</summary>
public enum OtlpTransport
{
    Grpc,
    HttpProtobuf,
}

/// <summary>Limits and shutdown behaviour shared by every node of the mesh.</summary>
/// <param name="MaxImageBytes">Largest image a message may carry (decoded); the request as a whole stays within MaxRequestBytes.</param>
/// <param name="MaxSchemaBytes">Largest JSON Schema (a tool's parameters, a response format) a request may carry, in characters.</param>
public sealed record ServerSettings(
    int MaxRequestBytes,
    int MaxMessages,
    TimeSpan DrainTimeout,
    TimeSpan DrainNotice,
    int MaxImageBytes = 5 * 1024 * 1024,
    int MaxSchemaBytes = 64 * 1024)
{
    public static ServerSettings Default { get; } = new(
        MaxRequestBytes: 4 * 1024 * 1024,
        MaxMessages: 1024,
        DrainTimeout: TimeSpan.FromSeconds(30),
        DrainNotice: TimeSpan.FromSeconds(1));
}

/// <summary>Routing profiles: named weight sets for the score terms.</summary>
public sealed record RoutingSettings(string DefaultProfile, IReadOnlyDictionary<string, ScoreWeightSet> Profiles)
{
    public static RoutingSettings Default { get; } = new(
        RoutingProfiles.Balanced,
        new Dictionary<string, ScoreWeightSet>(StringComparer.Ordinal)
        {
            [RoutingProfiles.Balanced] = new(Quality: 1.0, Price: 0.5, Latency: 1.0, Load: 1.0, Warm: 0.2, Locality: 0.5),
            [RoutingProfiles.Quality] = new(Quality: 3.0, Price: 0.1, Latency: 0.3, Load: 0.5, Warm: 0.1, Locality: 0.2),
            [RoutingProfiles.Cost] = new(Quality: 0.5, Price: 3.0, Latency: 0.3, Load: 0.5, Warm: 0.1, Locality: 0.5),
            [RoutingProfiles.Latency] = new(Quality: 0.3, Price: 0.1, Latency: 3.0, Load: 1.5, Warm: 0.5, Locality: 1.0),
        });
}

/// <summary>Names of the built-in routing profiles.</summary>
public static class RoutingProfiles
{
    public static string Balanced => "balanced";
    public static string Quality => "quality";
    public static string Cost => "cost";
    public static string Latency => "latency";
}

/// <summary>Weights of the score terms; each term is normalised to 0..1 before weighting.</summary>
public sealed record ScoreWeightSet(double Quality, double Price, double Latency, double Load, double Warm, double Locality);

/// <summary>How a node reaches one backend.</summary>
public enum BackendKind
{
    /// <summary>The built-in deterministic generator (DESIGN.md section 8).</summary>
    Simulated,
    /// <summary>Any server speaking OpenAI chat completions: LM Studio, Ollama, vLLM, llama.cpp.</summary>
    OpenAICompatible,
    /// <summary>OpenAI's cloud API.</summary>
    OpenAI,
    /// <summary>Anthropic's native Messages API.</summary>
    Anthropic,
}

/// <summary>One model endpoint a node reaches itself, and the models it serves.</summary>
public sealed record BackendConfig(
    string Id,
    BackendKind Kind,
    Uri? BaseUrl,
    string? ApiKeyVariable,
    int MaxConcurrency,
    int MaxQueue,
    TimeSpan FirstTokenTimeout,
    TimeSpan StallTimeout,
    SimulatedBackendConfig? Simulated,
    IReadOnlyList<ModelConfig> Models,
    TokenLimitField MaxTokensField = TokenLimitField.MaxTokens)
{
    /// <summary>Cloud backends take requests off the premises; `on-prem-only` requests avoid them.</summary>
    public bool IsCloud => Kind is BackendKind.OpenAI or BackendKind.Anthropic;
}

/// <summary>
/// The request field an OpenAI-style backend reads a client's token limit from. OpenAI's API and SDK use
/// max_completion_tokens (its reasoning models refuse max_tokens); llama.cpp, and other local servers,
/// read only max_tokens and ignore the other, so a limit sent there is silently dropped.
/// </summary>
public enum TokenLimitField
{
    /// <summary>max_tokens: what every OpenAI-compatible server reads (the default for openai-compatible).</summary>
    MaxTokens,
    /// <summary>max_completion_tokens: OpenAI's current field (the default for openai).</summary>
    MaxCompletionTokens,
}

/// <summary>Model kinds a backend can serve.</summary>
public enum ModelKindConfig
{
    Chat,
    Embedding,
}

/// <summary>What a node advertises about one model of one backend.</summary>
public sealed record ModelConfig(
    string Id,
    string UpstreamModel,
    IReadOnlyList<string> Aliases,
    ModelKindConfig Kind,
    double Quality,
    int ContextTokens,
    IReadOnlyList<string> Features,
    double InputPricePerMillion,
    double OutputPricePerMillion,
    int EmbeddingDimensions);

/// <summary>Behaviour of a simulated backend: pacing and injected faults (DESIGN.md section 8).</summary>
public sealed record SimulatedBackendConfig(
    TimeSpan TimeToFirstToken,
    double TokensPerSecond,
    int DefaultMaxTokens,
    double FailureRate,
    int? FailAfterTokens,
    int? StallAfterTokens,
    int? AnswerTokens = null,
    bool Echo = false,
    IReadOnlyList<string>? GuardTerms = null);
