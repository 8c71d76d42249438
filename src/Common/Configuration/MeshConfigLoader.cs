using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace LlmRouter.Common.Configuration;

/// <summary>
/// Reads and validates a mesh YAML file. All problems are collected and thrown together as one
/// <see cref="ConfigException"/> whose lines name file, line, column and field.
/// </summary>
public static partial class MeshConfigLoader
{
    public static MeshConfig Load(string path)
    {
        var fullPath = System.IO.Path.GetFullPath(path);
        string text;
        try
        {
            text = File.ReadAllText(fullPath);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ConfigException(path, [$"{path}: cannot read the file: {ex.Message}"]);
        }

        return Parse(text, path, System.IO.Path.GetDirectoryName(fullPath)!);
    }

    /// <param name="text">The YAML text.</param>
    /// <param name="file">The name used in error messages.</param>
    /// <param name="baseDirectory">Relative paths in the file are relative to this directory.</param>
    public static MeshConfig Parse(string text, string file, string baseDirectory)
    {
        var errors = new ConfigErrorList(file);
        var root = ParseYaml(text, errors);
        if (root is null)
        {
            throw new ConfigException(file, errors.Items);
        }

        var top = new YamlFields(root, "", errors);
        var mesh = top.Map("mesh", required: true);
        var name = mesh?.Id("name", required: true) ?? "";
        var certificates = mesh?.String("certificates") ?? "certs/dev";
        mesh?.RejectUnknownKeys();

        var server = ReadServer(top.Map("server"));
        var gossip = ReadGossip(top.Map("gossip"));
        var routing = ReadRouting(top.Map("routing"));
        var telemetry = ReadTelemetry(top.Map("telemetry"));
        var pools = top.MapList("pools", required: true).Select(ReadPool).ToList();
        var integrators = top.MapList("integrators", required: false).Select(ReadIntegrator).ToList();
        var (access, accessFields) = ReadAccess(top.Map("access"), baseDirectory);
        var tenants = top.MapList("tenants", required: false).Select(ReadTenant).ToList();
        var (protection, maskingRules, guardrails) = ReadProtection(top.Map("protection"));
        var audit = ReadAudit(top.Map("audit"), baseDirectory);
        top.RejectUnknownKeys();

        CheckUnique(pools, errors);
        CheckIntegrators(integrators, pools, errors);
        CheckMetricsListens(pools, integrators, errors);
        CheckAccess(access, accessFields, tenants, routing, errors);
        CheckMasking(maskingRules, tenants, pools, errors);
        CheckGuardrails(guardrails, tenants, pools, errors);
        if (errors.Any)
        {
            throw new ConfigException(file, errors.Items);
        }

        return new MeshConfig(
            name,
            System.IO.Path.GetFullPath(file, baseDirectory),
            System.IO.Path.GetFullPath(certificates, baseDirectory),
            server,
            routing,
            pools.Select(p => p.Config).ToList())
        {
            Gossip = gossip,
            Telemetry = telemetry,
            Integrators = integrators.Select(i => i.Config).ToList(),
            Access = access,
            Tenants = tenants.Select(t => t.Config).ToList(),
            Protection = protection,
            Audit = audit,
        };
    }

    private static readonly string[] LogLevels = ["verbose", "debug", "information", "warning", "error", "fatal"];

    private static TelemetrySettings ReadTelemetry(YamlFields? fields)
    {
        if (fields is null)
        {
            return TelemetrySettings.Default;
        }

        var level = TelemetrySettings.Default.LogLevel;
        if (fields.String("log_level") is { } text)
        {
            var index = Array.IndexOf(LogLevels, text.ToLowerInvariant());
            if (index < 0)
            {
                fields.Errors.Add(fields.PositionOf("log_level"), fields.FieldPath("log_level"),
                    $"unknown log level '{text}' (expected {string.Join(", ", LogLevels)})");
            }
            else
            {
                level = (Serilog.Events.LogEventLevel)index;
            }
        }

        var ratio = fields.Double("trace_sample_ratio", TelemetrySettings.Default.TraceSampleRatio, 0, 1);
        var perSecond = fields.Int("max_traces_per_second", TelemetrySettings.Default.MaxTracesPerSecond, 0, 1_000_000);
        var otlp = ReadOtlp(fields.Map("otlp"));
        fields.RejectUnknownKeys();
        return new TelemetrySettings(level, otlp, ratio, perSecond);
    }

    private static OtlpSettings? ReadOtlp(YamlFields? fields)
    {
        if (fields is null)
        {
            return null;
        }

        var endpoint = fields.Url("endpoint", required: true);
        var transport = fields.String("protocol") switch
        {
            null or "grpc" => OtlpTransport.Grpc,
            "http/protobuf" => OtlpTransport.HttpProtobuf,
            var other => Invalid(fields, "protocol", $"unknown OTLP protocol '{other}' (expected grpc or http/protobuf)", OtlpTransport.Grpc),
        };
        var traces = fields.Bool("traces", true);
        var metrics = fields.Bool("metrics", true);
        var interval = fields.Duration("export_interval", TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(100), TimeSpan.FromHours(1));
        fields.RejectUnknownKeys();
        return endpoint is null ? null : new OtlpSettings(endpoint, transport, traces, metrics, interval);
    }

    /// <summary>
    /// A Prometheus endpoint's address (<c>metrics_listen</c>): plain http on loopback only (metrics name
    /// models, backends and members), https anywhere else, with the process's certificate and a client
    /// certificate from the mesh CA required of the scraper.
    /// </summary>
    private static Uri? MetricsListen(YamlFields fields) => OptionalListen(fields, "metrics_listen",
        "http://127.0.0.1:9464 (scraped at /metrics)", "on another address use https, which requires a client certificate from the mesh CA");

    /// <summary>
    /// An optional listener of a process beside its gRPC one: host and port only, and plain http on loopback
    /// only (where it is not reachable from another host); <paramref name="https"/> says what https adds.
    /// </summary>
    private static Uri? OptionalListen(YamlFields fields, string key, string example, string https)
    {
        var listen = fields.Url(key, required: false);
        if (listen is not null && (listen.IsDefaultPort || listen.AbsolutePath != "/"))
        {
            fields.Errors.Add(fields.PositionOf(key), fields.FieldPath(key),
                $"'{listen}' must name a host and an explicit port and nothing else, for example {example}");
        }
        else if (listen is { Scheme: "http" } && !listen.IsLoopback)
        {
            fields.Errors.Add(fields.PositionOf(key), fields.FieldPath(key), $"'{listen}': plain http is served on loopback only; {https}");
        }

        return listen;
    }

    private static Located<IntegratorConfig> ReadIntegrator(YamlFields fields)
    {
        var id = fields.Id("id", required: true) ?? "";
        var pools = fields.MapList("pools", required: true).Select(pool =>
        {
            var name = pool.Id("pool", required: true) ?? "";
            var listen = pool.Url("listen", required: true, httpsOnly: true);
            pool.RejectUnknownKeys();
            return new Located<IntegratorPoolConfig>(new IntegratorPoolConfig(name, listen ?? new Uri("https://invalid:1")), pool);
        }).ToList();
        var export = fields.StringList("export");
        var metricsListen = MetricsListen(fields);
        fields.RejectUnknownKeys();
        return new(new IntegratorConfig(id, pools.Select(p => p.Config).ToList(), export, metricsListen), fields) { Children = pools };
    }

    /// <summary>Each Prometheus endpoint has an address of its own: no other endpoint's, no listener's of any process.</summary>
    private static void CheckMetricsListens(List<Located<PoolConfig>> pools, List<Located<IntegratorConfig>> integrators, ConfigErrorList errors)
    {
        var nodes = pools.SelectMany(p => p.Children).Cast<Located<NodeConfig>>().ToList();
        var taken = nodes.Select(n => n.Config.Listen).Concat(nodes.Select(n => n.Config.HttpListen).OfType<Uri>())
            .Concat(integrators.SelectMany(i => i.Config.Pools).Select(p => p.Listen))
            .Select(u => u.Authority.ToLowerInvariant()).ToHashSet(StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var owners = nodes.Select(n => (n.Config.MetricsListen, n.Fields)).Concat(integrators.Select(i => (i.Config.MetricsListen, i.Fields)));
        foreach (var (listen, fields) in owners)
        {
            if (listen is null)
            {
                continue;
            }

            var authority = listen.Authority.ToLowerInvariant();
            if (taken.Contains(authority) || !seen.Add(authority))
            {
                errors.Add(fields.PositionOf("metrics_listen"), fields.FieldPath("metrics_listen"),
                    $"{listen.Authority} is already in use in this file; the Prometheus endpoint needs a port of its own");
            }
        }
    }

    /// <summary>An integrator joins two or more distinct pools of the file; its ids and addresses are unique in the mesh.</summary>
    private static void CheckIntegrators(List<Located<IntegratorConfig>> integrators, List<Located<PoolConfig>> pools, ConfigErrorList errors)
    {
        var poolNames = pools.Select(p => p.Config.Name).ToHashSet(StringComparer.Ordinal);
        var nodeIds = pools.SelectMany(p => p.Config.Nodes).Select(n => n.Id).ToHashSet(StringComparer.Ordinal);
        var listens = pools.SelectMany(p => p.Config.Nodes).Select(n => n.Listen.Authority.ToLowerInvariant()).ToHashSet(StringComparer.Ordinal);
        foreach (var integrator in integrators)
        {
            var config = integrator.Config;
            if (nodeIds.Contains(config.Id))
            {
                errors.Add(integrator.Fields.PositionOf("id"), integrator.Fields.FieldPath("id"), $"'{config.Id}' is already a node id");
            }

            if (config.Pools.Select(p => p.Pool).Distinct(StringComparer.Ordinal).Count() < 2)
            {
                errors.Add(integrator.Fields.PositionOf("pools"), integrator.Fields.FieldPath("pools"), "an integrator joins at least two different pools");
            }

            foreach (var pool in integrator.Children.Cast<Located<IntegratorPoolConfig>>())
            {
                if (pool.Config.Pool.Length > 0 && !poolNames.Contains(pool.Config.Pool))
                {
                    errors.Add(pool.Fields.PositionOf("pool"), pool.Fields.FieldPath("pool"),
                        $"unknown pool '{pool.Config.Pool}' (pools: {string.Join(", ", poolNames.Order(StringComparer.Ordinal))})");
                }

                if (!listens.Add(pool.Config.Listen.Authority.ToLowerInvariant()))
                {
                    errors.Add(pool.Fields.PositionOf("listen"), pool.Fields.FieldPath("listen"), $"listen address {pool.Config.Listen.Authority} is already in use in this file");
                }
            }
        }

        ReportDuplicates(integrators, i => i.Config.Id, "id", "integrator id", errors);
    }

    private static GossipSettings ReadGossip(YamlFields? fields)
    {
        if (fields is null)
        {
            return GossipSettings.Default;
        }

        var preset = fields.String("preset") ?? GossipSettings.Default.Preset;
        if (!GossipSettings.Presets.Contains(preset, StringComparer.Ordinal))
        {
            fields.Errors.Add(fields.PositionOf("preset"), fields.FieldPath("preset"),
                $"unknown preset '{preset}' (expected {string.Join(", ", GossipSettings.Presets)})");
        }

        var suspicionMultiplier = fields.OptionalInt("suspicion_multiplier", 1, 100);
        TimeSpan? usageSpread = fields.Has("usage_spread") ? fields.Duration("usage_spread", TimeSpan.Zero, TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(1)) : null;
        fields.RejectUnknownKeys();
        return new GossipSettings(preset, suspicionMultiplier, usageSpread);
    }

    private static YamlMappingNode? ParseYaml(string text, ConfigErrorList errors)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException ex)
        {
            // YamlDotNet's message repeats the position; keep only its description.
            var reason = ex.InnerException?.Message ?? ex.Message;
            errors.Add(ex.Start, "(syntax)", $"malformed YAML: {reason}");
            return null;
        }
        catch (InvalidOperationException ex)
        {
            // Some malformed input (an unclosed [ or {) makes the scanner fail without a position: it ran
            // to the end of the file looking for the closing bracket.
            var lastLine = text.Split('\n').Length;
            errors.Add(new Mark(0, lastLine, 1), "(syntax)", $"malformed YAML, an unclosed bracket or quote before the end of the file: {ex.Message}");
            return null;
        }

        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is not YamlMappingNode root)
        {
            errors.Add(Mark.Empty, "(document)", "the file must be a YAML mapping with mesh:, pools: and optional server: and routing: sections");
            return null;
        }

        return root;
    }

    private static ServerSettings ReadServer(YamlFields? fields)
    {
        var defaults = ServerSettings.Default;
        if (fields is null)
        {
            return defaults;
        }

        var settings = new ServerSettings(
            MaxRequestBytes: fields.Int("max_request_bytes", defaults.MaxRequestBytes, 1024, 64 * 1024 * 1024),
            MaxMessages: fields.Int("max_messages", defaults.MaxMessages, 1, 100_000),
            DrainTimeout: fields.Duration("drain_timeout", defaults.DrainTimeout, TimeSpan.Zero, TimeSpan.FromHours(1)),
            DrainNotice: fields.Duration("drain_notice", defaults.DrainNotice, TimeSpan.Zero, TimeSpan.FromMinutes(5)),
            MaxImageBytes: fields.Int("max_image_bytes", defaults.MaxImageBytes, 1024, 64 * 1024 * 1024),
            MaxSchemaBytes: fields.Int("max_schema_bytes", defaults.MaxSchemaBytes, 256, 4 * 1024 * 1024));
        fields.RejectUnknownKeys();
        return settings;
    }

    private static RoutingSettings ReadRouting(YamlFields? fields)
    {
        var defaults = RoutingSettings.Default;
        if (fields is null)
        {
            return defaults;
        }

        var profiles = new Dictionary<string, ScoreWeightSet>(defaults.Profiles, StringComparer.Ordinal);
        foreach (var (name, weights) in fields.NamedMaps("profiles"))
        {
            var basis = profiles.GetValueOrDefault(name) ?? defaults.Profiles[RoutingProfiles.Balanced];
            profiles[name] = new ScoreWeightSet(
                Quality: weights.Double("quality", basis.Quality, 0, 100),
                Price: weights.Double("price", basis.Price, 0, 100),
                Latency: weights.Double("latency", basis.Latency, 0, 100),
                Load: weights.Double("load", basis.Load, 0, 100),
                Warm: weights.Double("warm", basis.Warm, 0, 100),
                Locality: weights.Double("locality", basis.Locality, 0, 100));
            weights.RejectUnknownKeys();
        }

        var defaultProfile = fields.String("default_profile") ?? defaults.DefaultProfile;
        if (!profiles.ContainsKey(defaultProfile))
        {
            fields.Errors.Add(fields.PositionOf("default_profile"), fields.FieldPath("default_profile"),
                $"unknown profile '{defaultProfile}' (defined: {string.Join(", ", profiles.Keys.Order(StringComparer.Ordinal))})");
        }

        fields.RejectUnknownKeys();
        return new RoutingSettings(defaultProfile, profiles);
    }

    private static Located<PoolConfig> ReadPool(YamlFields fields)
    {
        var name = fields.Id("name", required: true) ?? "";
        var nodes = fields.MapList("nodes", required: true).Select(node => ReadNode(node, name)).ToList();
        var seeds = new List<Uri>();
        foreach (var (seed, index) in fields.StringList("seeds").Select((s, i) => (s, i)))
        {
            if (Uri.TryCreate(seed, UriKind.Absolute, out var url) && url.Scheme == Uri.UriSchemeHttps && !url.IsDefaultPort)
            {
                seeds.Add(url);
            }
            else
            {
                fields.Errors.Add(fields.PositionOf("seeds"), $"{fields.FieldPath("seeds")}[{index}]", $"'{seed}' is not an https URL with a port");
            }
        }

        fields.RejectUnknownKeys();
        return new(new PoolConfig(name, nodes.Select(n => n.Config).ToList()) { Seeds = seeds }, fields) { Children = nodes };
    }

    private static Located<NodeConfig> ReadNode(YamlFields fields, string pool)
    {
        var id = fields.Id("id", required: true) ?? "";
        var listen = fields.Url("listen", required: true, httpsOnly: true);
        if (listen is not null && (listen.IsDefaultPort || listen.AbsolutePath != "/"))
        {
            fields.Errors.Add(fields.PositionOf("listen"), fields.FieldPath("listen"),
                $"'{listen}' must name a host and an explicit port and nothing else, for example https://127.0.0.1:7101");
        }

        // The HTTP ingress: https with the node's certificate, or http for loopback or behind a TLS proxy.
        var httpListen = OptionalListen(fields, "http_listen", "http://127.0.0.1:8101",
            "a TLS proxy on the same host can publish it; on another address use https, which serves the node's certificate");

        var metricsListen = MetricsListen(fields);
        var backends = fields.MapList("backends", required: true).Select(ReadBackend).ToList();
        fields.RejectUnknownKeys();
        var config = new NodeConfig(id, pool, listen ?? new Uri("https://invalid:1"), backends.Select(b => b.Config).ToList(), httpListen, metricsListen);
        return new(config, fields) { Children = backends };
    }

    private static Located<BackendConfig> ReadBackend(YamlFields fields)
    {
        var id = fields.Id("id", required: true) ?? "";
        var kindText = fields.String("kind", required: true);
        var kind = ParseKind(kindText, fields);
        var baseUrl = fields.Url("base_url", required: kind == BackendKind.OpenAICompatible)
            ?? kind switch
            {
                BackendKind.OpenAI => new Uri("https://api.openai.com/v1/"),
                BackendKind.Anthropic => new Uri("https://api.anthropic.com/"),
                _ => null,
            };
        if (baseUrl is not null && kind == BackendKind.Simulated)
        {
            fields.Errors.Add(fields.PositionOf("base_url"), fields.FieldPath("base_url"), "a simulated backend has no base_url");
        }

        var keyVariable = fields.String("api_key_env") ?? kind switch
        {
            BackendKind.OpenAI => "OPENAI_API_KEY",
            BackendKind.Anthropic => "ANTHROPIC_API_KEY",
            _ => null,
        };
        if (keyVariable is not null && !EnvironmentVariableName().IsMatch(keyVariable))
        {
            fields.Errors.Add(fields.PositionOf("api_key_env"), fields.FieldPath("api_key_env"),
                $"'{keyVariable}' is not an environment variable name (letters, digits and _)");
        }

        foreach (var secretKey in new[] { "api_key", "key", "token", "password" })
        {
            if (fields.String(secretKey) is not null)
            {
                fields.Errors.Add(fields.PositionOf(secretKey), fields.FieldPath(secretKey),
                    "secrets never go in the configuration file: put the key in an environment variable and name it with api_key_env");
            }
        }

        var simulatedFields = fields.Map("simulated");
        if (simulatedFields is not null && kind != BackendKind.Simulated)
        {
            fields.Errors.Add(simulatedFields.Start, simulatedFields.Path, $"only a backend of kind simulated takes simulated: settings");
        }

        var simulated = kind == BackendKind.Simulated ? ReadSimulated(simulatedFields) : null;
        var models = fields.MapList("models", required: true).Select(model => ReadModel(model, kind)).ToList();
        var config = new BackendConfig(
            id,
            kind,
            baseUrl,
            keyVariable,
            MaxConcurrency: fields.Int("max_concurrency", 8, 1, 100_000),
            MaxQueue: fields.Int("max_queue", 32, 0, 1_000_000),
            FirstTokenTimeout: fields.Duration("first_token_timeout", TimeSpan.FromSeconds(60), TimeSpan.FromMilliseconds(1), TimeSpan.FromHours(1)),
            StallTimeout: fields.Duration("stall_timeout", TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(1), TimeSpan.FromHours(1)),
            simulated,
            models.Select(m => m.Config).ToList(),
            ReadTokenLimitField(fields, kind));
        fields.RejectUnknownKeys();
        return new(config, fields) { Children = models };
    }

    /// <summary>max_tokens_field: which request field carries the token limit (OpenAI-style backends only).</summary>
    private static TokenLimitField ReadTokenLimitField(YamlFields fields, BackendKind kind)
    {
        var fallback = kind == BackendKind.OpenAI ? TokenLimitField.MaxCompletionTokens : TokenLimitField.MaxTokens;
        var text = fields.String("max_tokens_field");
        if (text is null)
        {
            return fallback;
        }

        if (kind is not (BackendKind.OpenAI or BackendKind.OpenAICompatible))
        {
            fields.Errors.Add(fields.PositionOf("max_tokens_field"), fields.FieldPath("max_tokens_field"),
                "only openai and openai-compatible backends take max_tokens_field");
            return fallback;
        }

        switch (text)
        {
            case "max_tokens":
                return TokenLimitField.MaxTokens;
            case "max_completion_tokens":
                return TokenLimitField.MaxCompletionTokens;
            default:
                fields.Errors.Add(fields.PositionOf("max_tokens_field"), fields.FieldPath("max_tokens_field"),
                    $"'{text}' is not a token limit field (use max_tokens, which local servers read, or max_completion_tokens, OpenAI's)");
                return fallback;
        }
    }

    private static BackendKind ParseKind(string? text, YamlFields fields)
    {
        if (text is null)
        {
            return BackendKind.Simulated;
        }

        if (BackendKindNames.TryParse(text, out var kind))
        {
            return kind;
        }

        fields.Errors.Add(fields.PositionOf("kind"), fields.FieldPath("kind"),
            $"unknown backend kind '{text}' (expected {BackendKindNames.Expected})");
        return BackendKind.Simulated;
    }

    private static SimulatedBackendConfig ReadSimulated(YamlFields? fields)
    {
        var defaults = new SimulatedBackendConfig(TimeSpan.FromMilliseconds(200), 40, 64, 0, null, null);
        if (fields is null)
        {
            return defaults;
        }

        var config = new SimulatedBackendConfig(
            TimeToFirstToken: fields.Duration("time_to_first_token", defaults.TimeToFirstToken, TimeSpan.Zero, TimeSpan.FromMinutes(10)),
            TokensPerSecond: fields.Double("tokens_per_second", defaults.TokensPerSecond, 0, 1_000_000),
            DefaultMaxTokens: fields.Int("default_max_tokens", defaults.DefaultMaxTokens, 1, 1_000_000),
            FailureRate: fields.Double("failure_rate", 0, 0, 1),
            FailAfterTokens: fields.OptionalInt("fail_after_tokens", 0, 1_000_000),
            StallAfterTokens: fields.OptionalInt("stall_after_tokens", 0, 1_000_000),
            AnswerTokens: fields.OptionalInt("answer_tokens", 1, 1_000_000),
            Echo: fields.Bool("echo", false),
            GuardTerms: fields.Has("guard_terms") ? fields.StringList("guard_terms") : null);
        if (config is { Echo: true, GuardTerms: not null })
        {
            fields.Errors.Add(fields.PositionOf("guard_terms"), fields.FieldPath("guard_terms"), "a simulated backend either echoes or answers as a guard model, not both (echo: true is set)");
        }

        fields.RejectUnknownKeys();
        return config;
    }

    private static Located<ModelConfig> ReadModel(YamlFields fields, BackendKind backendKind)
    {
        var id = fields.String("id", required: true) ?? "";
        var kind = fields.String("kind") switch
        {
            null or "chat" => ModelKindConfig.Chat,
            "embedding" => ModelKindConfig.Embedding,
            var other => Invalid(fields, "kind", $"unknown model kind '{other}' (expected chat or embedding)", ModelKindConfig.Chat),
        };
        if (kind == ModelKindConfig.Embedding && backendKind == BackendKind.Anthropic)
        {
            fields.Errors.Add(fields.PositionOf("kind"), fields.FieldPath("kind"), "Anthropic's API has no embedding models");
        }

        var price = fields.Map("price");
        var config = new ModelConfig(
            id,
            UpstreamModel: fields.String("upstream_model") ?? id,
            Aliases: fields.StringList("aliases"),
            kind,
            Quality: fields.Double("quality", 0.5, 0, 1),
            ContextTokens: fields.Int("context_tokens", 8192, 1, 100_000_000),
            Features: fields.StringList("features"),
            InputPricePerMillion: price?.Double("input_per_million", 0, 0, 1_000_000) ?? 0,
            OutputPricePerMillion: price?.Double("output_per_million", 0, 0, 1_000_000) ?? 0,
            EmbeddingDimensions: fields.Int("dimensions", kind == ModelKindConfig.Embedding ? 384 : 0, 0, 65_536));
        price?.RejectUnknownKeys();
        fields.RejectUnknownKeys();
        return new(config, fields);
    }

    private static T Invalid<T>(YamlFields fields, string key, string message, T fallback)
    {
        fields.Errors.Add(fields.PositionOf(key), fields.FieldPath(key), message);
        return fallback;
    }

    /// <summary>Pool names, node ids and listen endpoints are unique in the mesh; backend and model ids in their parent.</summary>
    private static void CheckUnique(List<Located<PoolConfig>> pools, ConfigErrorList errors)
    {
        ReportDuplicates(pools, p => p.Config.Name, "name", "pool", errors);
        var nodes = pools.SelectMany(p => p.Children).Cast<Located<NodeConfig>>().ToList();
        ReportDuplicates(nodes, n => n.Config.Id, "id", "node id", errors);
        ReportDuplicates(nodes, n => n.Config.Listen.Authority.ToLowerInvariant(), "listen", "listen address", errors);
        var httpListens = nodes.Where(n => n.Config.HttpListen is not null).ToList();
        ReportDuplicates(httpListens, n => n.Config.HttpListen!.Authority.ToLowerInvariant(), "http_listen", "HTTP listen address", errors);
        foreach (var node in httpListens.Where(n => nodes.Any(other => other.Config.Listen.Authority.Equals(n.Config.HttpListen!.Authority, StringComparison.OrdinalIgnoreCase))))
        {
            errors.Add(node.Fields.PositionOf("http_listen"), node.Fields.FieldPath("http_listen"),
                $"{node.Config.HttpListen!.Authority} is a node's gRPC listen address; the HTTP ingress needs a port of its own");
        }
        foreach (var node in nodes)
        {
            var backends = node.Children.Cast<Located<BackendConfig>>().ToList();
            ReportDuplicates(backends, b => b.Config.Id, "id", $"backend id on node '{node.Config.Id}'", errors);
            foreach (var backend in backends)
            {
                ReportDuplicates(backend.Children.Cast<Located<ModelConfig>>().ToList(), m => m.Config.Id, "id",
                    $"model id in backend '{backend.Config.Id}'", errors);
            }
        }
    }

    private static void ReportDuplicates<T>(List<Located<T>> items, Func<Located<T>, string> key, string field, string what, ConfigErrorList errors)
    {
        var seen = new Dictionary<string, Located<T>>(StringComparer.Ordinal);
        foreach (var item in items)
        {
            var value = key(item);
            if (value.Length == 0)
            {
                continue;
            }

            if (seen.TryGetValue(value, out var first))
            {
                errors.Add(item.Fields.PositionOf(field), item.Fields.FieldPath(field),
                    $"duplicate {what} '{value}' (first at line {first.Fields.PositionOf(field).Line})");
            }
            else
            {
                seen[value] = item;
            }
        }
    }

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex EnvironmentVariableName();

    /// <summary>A config record with the YAML it came from, for position-aware cross checks.</summary>
    private sealed record Located<T>(T Config, YamlFields Fields)
    {
        public IReadOnlyList<object> Children { get; init; } = [];
    }
}

/// <summary>Identifier fields: they appear in certificate URIs and metadata, so they are kept plain.</summary>
internal static partial class IdFieldExtensions
{
    public static string? Id(this YamlFields fields, string key, bool required)
    {
        var value = fields.String(key, required);
        if (value is not null && !IdPattern().IsMatch(value))
        {
            fields.Errors.Add(fields.PositionOf(key), fields.FieldPath(key),
                $"'{value}' is not a valid id (lower-case letters, digits, '-', '_' and '.', starting with a letter or digit, at most 63 characters)");
            return null;
        }

        return value;
    }

    [GeneratedRegex("^[a-z0-9][a-z0-9._-]{0,62}$")]
    private static partial Regex IdPattern();
}
