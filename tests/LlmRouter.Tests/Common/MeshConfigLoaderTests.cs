using LlmRouter.Common.Configuration;

namespace LlmRouter.Tests.Common;

/// <summary>The mesh file is validated at start; every error names file, line, column and field.</summary>
public sealed class MeshConfigLoaderTests
{
    private const string Valid = """
        mesh:
          name: m
        pools:
          - name: pool-a
            nodes:
              - id: n1
                listen: https://127.0.0.1:7101
                backends:
                  - id: local
                    kind: openai-compatible
                    base_url: http://127.0.0.1:1234/v1/
                    models:
                      - id: qwen
                        upstream_model: qwen2.5-7b-instruct
                        aliases: [small]
                  - id: claude
                    kind: anthropic
                    models:
                      - id: sonnet
        """;

    private static ConfigException Errors(string yaml) =>
        Assert.Throws<ConfigException>(() => MeshConfigLoader.Parse(yaml, "mesh.yaml", "/tmp"));

    [Fact]
    public void Parse_ValidFile_ReadsNodesBackendsAndDefaults()
    {
        var mesh = MeshConfigLoader.Parse(Valid, "mesh.yaml", "/srv/mesh");

        var node = Assert.Single(mesh.AllNodes);
        Assert.Equal(("n1", "pool-a", new Uri("https://127.0.0.1:7101")), (node.Id, node.Pool, node.Listen));
        var local = node.Backends[0];
        Assert.Equal(BackendKind.OpenAICompatible, local.Kind);
        Assert.Equal(new Uri("http://127.0.0.1:1234/v1/"), local.BaseUrl);
        Assert.Null(local.ApiKeyVariable);
        Assert.Equal("qwen2.5-7b-instruct", local.Models[0].UpstreamModel);
        var claude = node.Backends[1];
        Assert.Equal(new Uri("https://api.anthropic.com/"), claude.BaseUrl);
        Assert.Equal("ANTHROPIC_API_KEY", claude.ApiKeyVariable);
        Assert.True(claude.IsCloud);
        Assert.Equal("/srv/mesh/certs/dev", mesh.CertificatesDirectory);
        Assert.Equal(RoutingProfiles.Balanced, mesh.Routing.DefaultProfile);
    }

    [Theory]
    [InlineData("http://0.0.0.0:8101", "plain http is served on loopback only")]
    [InlineData("ftp://127.0.0.1:8101", "is not an absolute http or https URL")]
    [InlineData("https://127.0.0.1:7101", "is a node's gRPC listen address")]
    [InlineData("http://127.0.0.1", "must name a host and an explicit port")]
    public void Parse_BadHttpListen_NamesTheFieldAndWhy(string address, string why)
    {
        var yaml = Valid.Replace("        listen: https://127.0.0.1:7101\n", $"        listen: https://127.0.0.1:7101\n        http_listen: {address}\n", StringComparison.Ordinal);

        var error = Assert.Single(Errors(yaml).Errors);

        Assert.Contains("pools[0].nodes[0].http_listen: ", error);
        Assert.Contains(why, error);
    }

    [Theory]
    [InlineData("max_tokens", TokenLimitField.MaxTokens)]
    [InlineData("max_completion_tokens", TokenLimitField.MaxCompletionTokens)]
    public void Parse_MaxTokensField_ReadForOpenAIStyleBackends(string field, TokenLimitField expected)
    {
        var yaml = Valid.Replace("            kind: openai-compatible\n", $"            kind: openai-compatible\n            max_tokens_field: {field}\n", StringComparison.Ordinal);

        var backend = MeshConfigLoader.Parse(yaml, "mesh.yaml", "/tmp").AllNodes.Single().Backends[0];

        Assert.Equal(expected, backend.MaxTokensField);
    }

    [Fact]
    public void Parse_UnknownKey_NamesFileLineAndField()
    {
        var yaml = Valid.Replace("                upstream_model:", "                max_tokenz: 5\n                upstream_model:", StringComparison.Ordinal);

        var error = Assert.Single(Errors(yaml).Errors);

        Assert.StartsWith("mesh.yaml:14:17: pools[0].nodes[0].backends[0].models[0].max_tokenz: unknown key", error);
    }

    [Fact]
    public void Parse_MissingField_NamesTheField()
    {
        var yaml = Valid.Replace("            base_url: http://127.0.0.1:1234/v1/\n", "", StringComparison.Ordinal);

        var error = Assert.Single(Errors(yaml).Errors);

        Assert.Contains("pools[0].nodes[0].backends[0].base_url: is required but missing", error);
        Assert.StartsWith("mesh.yaml:9:", error);
    }

    [Fact]
    public void Parse_BadUrl_NamesTheFieldAndValue()
    {
        var yaml = Valid.Replace("http://127.0.0.1:1234/v1/", "htp:/nowhere", StringComparison.Ordinal);

        var error = Assert.Single(Errors(yaml).Errors);

        Assert.Equal("mesh.yaml:11:23: pools[0].nodes[0].backends[0].base_url: 'htp:/nowhere' is not an absolute http or https URL", error);
    }

    [Fact]
    public void Parse_DuplicateIds_ReportEachWithTheFirstLine()
    {
        var yaml = Valid.Replace("- id: claude", "- id: local", StringComparison.Ordinal);

        var error = Assert.Single(Errors(yaml).Errors);

        Assert.Contains("pools[0].nodes[0].backends[1].id: duplicate backend id on node 'n1' 'local' (first at line 9)", error);
    }

    [Fact]
    public void Parse_DuplicateNodeIdAcrossPools_IsAnError()
    {
        var yaml = Valid + """

              - name: pool-b
                nodes:
                  - id: n1
                    listen: https://127.0.0.1:7201
                    backends:
                      - id: sim
                        kind: simulated
                        models:
                          - id: m
            """;

        var error = Assert.Single(Errors(yaml).Errors);

        Assert.Contains("pools[1].nodes[0].id: duplicate node id 'n1'", error);
    }

    [Fact]
    public void Parse_SecretInFile_RefusedWithAdvice()
    {
        var yaml = Valid.Replace("            kind: anthropic\n", "            kind: anthropic\n            api_key: sk-ant-123\n", StringComparison.Ordinal);

        var error = Assert.Single(Errors(yaml).Errors);

        Assert.Contains("api_key: secrets never go in the configuration file", error);
        Assert.DoesNotContain("sk-ant-123", error);
    }

    [Fact]
    public void Parse_MalformedYaml_NamesTheLine()
    {
        var error = Assert.Single(Errors("mesh:\n  name: [unclosed\npools: []\n").Errors);

        Assert.Matches(@"^mesh\.yaml:\d+:\d+: \(syntax\): malformed YAML", error);
    }

    [Fact]
    public void Parse_SeveralProblems_ReportsThemAll()
    {
        var yaml = Valid
            .Replace("https://127.0.0.1:7101", "http://127.0.0.1", StringComparison.Ordinal)
            .Replace("kind: anthropic", "kind: gemini", StringComparison.Ordinal);

        var errors = Errors(yaml).Errors;

        Assert.Equal(2, errors.Count);
        Assert.Contains(errors, e => e.Contains("listen: 'http://127.0.0.1' is not an absolute https URL", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("kind: unknown backend kind 'gemini'", StringComparison.Ordinal));
    }

    [Fact]
    public void Parse_BadDurationAndRange_NameTheField()
    {
        var yaml = Valid.Replace("            kind: openai-compatible\n",
            "            kind: openai-compatible\n            stall_timeout: soon\n            max_concurrency: 0\n", StringComparison.Ordinal);

        var errors = Errors(yaml).Errors;

        Assert.Contains(errors, e => e.Contains("stall_timeout: 'soon' is not a duration", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("max_concurrency: 0 is outside 1..100000", StringComparison.Ordinal));
    }

    [Fact]
    public void Parse_GossipSuspicionMultiplier_OverridesThePresetAndIsRangeChecked()
    {
        var tuned = MeshConfigLoader.Parse(Valid.Replace("mesh:\n  name: m\n", "mesh:\n  name: m\ngossip:\n  preset: wan\n  suspicion_multiplier: 10\n", StringComparison.Ordinal), "mesh.yaml", "/tmp");
        var plain = MeshConfigLoader.Parse(Valid, "mesh.yaml", "/tmp");

        Assert.Equal((10, TimeSpan.FromSeconds(5)), (tuned.Gossip.Options().SuspicionMultiplier, tuned.Gossip.Options().ProbeInterval));
        Assert.Equal(4, plain.Gossip.Options().SuspicionMultiplier);
        var error = Assert.Single(Errors(Valid.Replace("mesh:\n  name: m\n", "mesh:\n  name: m\ngossip:\n  suspicion_multiplier: 0\n", StringComparison.Ordinal)).Errors);
        Assert.Contains("gossip.suspicion_multiplier: 0 is outside 1..100", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_Telemetry_ReadsLogLevelOtlpAndSampling()
    {
        var yaml = Valid.Replace("mesh:\n  name: m\n", """
            mesh:
              name: m
            telemetry:
              log_level: Warning
              trace_sample_ratio: 0.25
              max_traces_per_second: 0
              otlp:
                endpoint: http://collector:4318/
                protocol: http/protobuf
                metrics: false
                export_interval: 2s

            """, StringComparison.Ordinal);

        var telemetry = MeshConfigLoader.Parse(yaml, "mesh.yaml", "/tmp").Telemetry;
        var defaults = MeshConfigLoader.Parse(Valid, "mesh.yaml", "/tmp").Telemetry;

        Assert.Equal(Serilog.Events.LogEventLevel.Warning, telemetry.LogLevel);
        Assert.Equal((0.25, 0), (telemetry.TraceSampleRatio, telemetry.MaxTracesPerSecond));
        Assert.Equal(new OtlpSettings(new Uri("http://collector:4318/"), OtlpTransport.HttpProtobuf, Traces: true, Metrics: false, TimeSpan.FromSeconds(2)), telemetry.Otlp);
        Assert.Equal((Serilog.Events.LogEventLevel.Information, null, 1.0, 10), (defaults.LogLevel, defaults.Otlp, defaults.TraceSampleRatio, defaults.MaxTracesPerSecond));
    }

    [Theory]
    [InlineData("log_level: loud", "telemetry.log_level: unknown log level 'loud' (expected verbose, debug, information, warning, error, fatal)")]
    [InlineData("trace_sample_ratio: 2", "telemetry.trace_sample_ratio: 2 is outside 0..1")]
    [InlineData("max_traces_per_second: -1", "telemetry.max_traces_per_second: -1 is outside 0..1000000")]
    [InlineData("max_traces_per_second: many", "telemetry.max_traces_per_second")]
    [InlineData("otlp: { endpoint: http://c:4317, protocol: thrift }", "telemetry.otlp.protocol: unknown OTLP protocol 'thrift' (expected grpc or http/protobuf)")]
    [InlineData("otlp: { protocol: grpc }", "telemetry.otlp.endpoint")]
    [InlineData("otlp: { endpoint: 'udp://c:4317' }", "telemetry.otlp.endpoint: 'udp://c:4317' is not an absolute http or https URL")]
    [InlineData("logs: true", "telemetry.logs")]
    public void Parse_BadTelemetry_NamesTheField(string setting, string expected)
    {
        var yaml = Valid.Replace("mesh:\n  name: m\n", $"mesh:\n  name: m\ntelemetry:\n  {setting}\n", StringComparison.Ordinal);

        var error = Assert.Single(Errors(yaml).Errors);

        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_AccessAndTenants_ReadWithDefaults()
    {
        var yaml = Valid.Replace("mesh:\n  name: m\n", """
            mesh:
              name: m
            access:
              anonymous: public
              operators: [ops]
              keys_file: secrets/keys.yaml
              jwt: { issuer: "https://idp/", audience: router, keys_file: jwks.json }
            tenants:
              - name: public
              - name: team
                clients: [svc]
                models: [small]
                labels: [on-prem-only]
                cloud: false
                profiles: [cost]
                limits: { requests_per_minute: 60, output_tokens_per_minute: 1000, concurrent_streams: 2, budget_per_day_usd: 1.5 }

            """, StringComparison.Ordinal);

        var mesh = MeshConfigLoader.Parse(yaml, "mesh.yaml", "/srv/mesh");

        Assert.Equal(("public", "/srv/mesh/secrets/keys.yaml"), (mesh.Access.AnonymousTenant, mesh.Access.KeysFile));
        Assert.Equal(new JwtSettings("https://idp/", "router", "/srv/mesh/jwks.json", "tenant"), mesh.Access.Jwt);
        var open = mesh.FindTenant("public")!;
        Assert.True(open.Cloud && open.MayUseModel("anything", []) && open.MayUseProfile("quality") && open.Limits == TenantLimits.None);
        var team = mesh.FindTenant("team")!;
        Assert.True(team.MayUseModel("llama", ["small"]) && !team.MayUseModel("llama", []) && !team.Cloud && !team.MayUseProfile("balanced"));
        Assert.Equal(new TenantLimits(60, null, 1000, 2, 1.5m), team.Limits);
        Assert.Equal(AccessSettings.Closed, MeshConfigLoader.Parse(Valid, "mesh.yaml", "/tmp").Access);
    }

    [Theory]
    [InlineData("access: { anonymous: ghost }", "access.anonymous: tenant 'ghost' is not in tenants")]
    [InlineData("tenants: [ { name: a, clients: [x] }, { name: b, clients: [x] } ]", "client 'x' belongs to tenant 'a' already")]
    [InlineData("tenants: [ { name: a }, { name: a } ]", "duplicate tenant name 'a'")]
    [InlineData("tenants: [ { name: a, labels: [nowhere] } ]", "tenants[0].labels[0]: unknown policy label 'nowhere'")]
    [InlineData("tenants: [ { name: a, profiles: [fastest] } ]", "unknown routing profile 'fastest'")]
    [InlineData("tenants: [ { name: a, limits: { requests_per_minute: 0 } } ]", "tenants[0].limits.requests_per_minute")]
    [InlineData("tenants: [ { name: a, limits: { per_hour: 5 } } ]", "tenants[0].limits.per_hour")]
    [InlineData("access: { jwt: { issuer: x } }", "access.jwt.audience")]
    public void Parse_BadAccess_NamesTheField(string section, string expected)
    {
        var yaml = Valid.Replace("mesh:\n  name: m\n", $"mesh:\n  name: m\n{section}\n", StringComparison.Ordinal);

        var errors = Errors(yaml).Errors;

        Assert.Contains(errors, error => error.Contains(expected, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("http://0.0.0.0:9464", "plain http is served on loopback only")]
    [InlineData("http://127.0.0.1:9464/metrics", "must name a host and an explicit port")]
    [InlineData("https://127.0.0.1:7101", "is already in use in this file")]
    public void Parse_BadMetricsListen_NamesTheFieldAndWhy(string address, string why)
    {
        var yaml = Valid.Replace("        listen: https://127.0.0.1:7101\n", $"        listen: https://127.0.0.1:7101\n        metrics_listen: {address}\n", StringComparison.Ordinal);

        var error = Assert.Single(Errors(yaml).Errors);

        Assert.Contains("pools[0].nodes[0].metrics_listen: ", error, StringComparison.Ordinal);
        Assert.Contains(why, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_MetricsListen_ReadForNodesAndIntegrators_AndUniqueAcrossThem()
    {
        var yaml = TwoPools.Replace("      - id: a1\n        listen: https://127.0.0.1:7101\n", "      - id: a1\n        listen: https://127.0.0.1:7101\n        metrics_listen: https://0.0.0.0:9101\n", StringComparison.Ordinal)
            .Replace("  - id: i1\n", "  - id: i1\n    metrics_listen: http://127.0.0.1:9301\n", StringComparison.Ordinal);
        var mesh = MeshConfigLoader.Parse(yaml, "mesh.yaml", "/tmp");

        Assert.Equal(new Uri("https://0.0.0.0:9101"), mesh.FindNode("a1")!.MetricsListen);
        Assert.Equal(new Uri("http://127.0.0.1:9301"), mesh.FindIntegrator("i1")!.MetricsListen);
        var clash = Assert.Single(Errors(yaml.Replace("http://127.0.0.1:9301", "https://0.0.0.0:9101", StringComparison.Ordinal)).Errors);
        Assert.Contains("integrators[0].metrics_listen: 0.0.0.0:9101 is already in use in this file", clash, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_SimulatedAnswerTokens_ReadAndRangeChecked()
    {
        // The first pool's simulated backend gets the setting, at the indentation of its "kind" line.
        static string With(string value)
        {
            var kind = TwoPools.IndexOf("kind: simulated\n", StringComparison.Ordinal);
            var indent = kind - TwoPools.LastIndexOf('\n', kind) - 1;
            var at = kind + "kind: simulated\n".Length;
            return TwoPools[..at] + new string(' ', indent) + $"simulated: {{ answer_tokens: {value} }}\n" + TwoPools[at..];
        }

        var mesh = MeshConfigLoader.Parse(With("64"), "mesh.yaml", "/tmp");

        Assert.Equal(64, mesh.FindNode("a1")!.Backends[0].Simulated!.AnswerTokens);
        Assert.Null(mesh.FindNode("b1")!.Backends[0].Simulated?.AnswerTokens);
        Assert.Contains(Errors(With("0")).Errors, e => e.Contains("answer_tokens: 0 is outside", StringComparison.Ordinal));
    }

    private const string TwoPools = """
        mesh:
          name: m
        pools:
          - name: pool-a
            nodes:
              - id: a1
                listen: https://127.0.0.1:7101
                backends:
                  - id: sim
                    kind: simulated
                    models:
                      - id: small
          - name: pool-b
            nodes:
              - id: b1
                listen: https://127.0.0.1:7201
                backends:
                  - id: sim
                    kind: simulated
                    models:
                      - id: large
        integrators:
          - id: i1
            pools:
              - { pool: pool-a, listen: https://127.0.0.1:7301 }
              - { pool: pool-b, listen: https://127.0.0.1:7302 }
            export: [large]
        """;

    [Fact]
    public void Parse_Integrator_ReadsItsPoolsAndExports()
    {
        var mesh = MeshConfigLoader.Parse(TwoPools, "mesh.yaml", "/tmp");

        var integrator = Assert.Single(mesh.Integrators);
        Assert.Equal("i1", integrator.Id);
        Assert.Equal(["pool-a", "pool-b"], integrator.Pools.Select(p => p.Pool));
        Assert.Equal(new Uri("https://127.0.0.1:7302"), integrator.Pools[1].Listen);
        Assert.Equal(["large"], integrator.Export);
        Assert.Same(integrator, mesh.FindIntegrator("i1"));
    }

    [Fact]
    public void Parse_IntegratorInOnePoolOrAnUnknownOne_NamesTheField()
    {
        var yaml = TwoPools.Replace("{ pool: pool-b, listen: https://127.0.0.1:7302 }", "{ pool: pool-c, listen: https://127.0.0.1:7101 }", StringComparison.Ordinal);

        var errors = Errors(yaml).Errors;

        Assert.Contains(errors, e => e.Contains("integrators[0].pools[1].pool: unknown pool 'pool-c' (pools: pool-a, pool-b)", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("integrators[0].pools[1].listen: listen address 127.0.0.1:7101 is already in use", StringComparison.Ordinal));
    }

    [Fact]
    public void Load_MissingFile_NamesThePath()
    {
        var error = Assert.Throws<ConfigException>(() => MeshConfigLoader.Load("/nonexistent/mesh.yaml"));

        Assert.Contains("/nonexistent/mesh.yaml: cannot read the file", error.Message);
    }

    [Fact]
    public void Load_SampleMeshFile_IsValid()
    {
        var mesh = MeshConfigLoader.Load(Path.Combine(RepositoryRoot(), "mesh.sample.yaml"));

        Assert.True(mesh.Pools.Count >= 2);
        Assert.True(mesh.AllNodes.Count() >= 4);
        Assert.True(mesh.Integrators.Count >= 1);

        // The main job's question: a model only subnet-b has, which an integrator carries into subnet-a.
        var onlyInB = mesh.Pools.Single(p => p.Name == "subnet-b").Nodes.SelectMany(n => n.Backends).SelectMany(b => b.Models).Select(m => m.Id)
            .Except(mesh.Pools.Single(p => p.Name == "subnet-a").Nodes.SelectMany(n => n.Backends).SelectMany(b => b.Models).Select(m => m.Id));
        Assert.Contains("qwen2.5-72b", onlyInB);
        Assert.Contains(mesh.Integrators, i => i.Pools.Select(p => p.Pool).Order().SequenceEqual(["subnet-a", "subnet-b"]));
    }

    internal static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "LlmRouter.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException("LlmRouter.sln not found above " + AppContext.BaseDirectory);
    }
}
