using LlmRouter.Common.Configuration;
using LlmRouter.Common.Protection;
using LlmRouter.Common.Routing;

namespace LlmRouter.Tests.Protection;

/// <summary>The <c>protection.masking</c> section: read and checked at start, and the policy it describes, attempt by attempt.</summary>
public sealed class MaskingConfigTests
{
    private const string Mesh = """
        mesh:
          name: m
        tenants:
          - name: team
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
          - name: pool-b
            nodes:
              - id: n2
                listen: https://127.0.0.1:7102
                backends:
                  - id: claude
                    kind: anthropic
                    models:
                      - id: sonnet

        """;

    private static MeshConfig Parse(string protection) => MeshConfigLoader.Parse(protection + Mesh, "mesh.yaml", "/tmp");

    [Fact]
    public void Parse_Masking_ReadsWhenRecognizersCustomPatternsAndRules()
    {
        var masking = Parse("""
            protection:
              masking:
                when: [leaving_subnet, cloud]
                recognizers: [email, iban]
                custom:
                  - { name: employee, pattern: 'EMP-[0-9]{6}' }
                rules:
                  - { tenant: team, when: always }
                  - { backend: local, label: on-prem-only, when: never }

            """).Protection.Masking;

        Assert.Equal(MaskWhen.LeavingSubnet | MaskWhen.Cloud, masking.When);
        Assert.Equal(["email", "iban"], masking.Recognizers);
        Assert.Equal([new CustomPattern("employee", "EMP-[0-9]{6}")], masking.Custom);
        Assert.Equal([new MaskingRule("team", null, null, null, MaskWhen.Always), new MaskingRule(null, "on-prem-only", null, "local", MaskWhen.Never)], masking.Rules);
        Assert.Equal(["EMAIL", "IBAN", "EMPLOYEE"], MaskingRecognizers.For(masking).Select(r => r.Label));
        Assert.False(MeshConfigLoader.Parse(Mesh, "mesh.yaml", "/tmp").Protection.Masking.CanApply);
    }

    [Theory]
    [InlineData("when: sometimes", "protection.masking.when: unknown value 'sometimes' (expected never, always, or leaving_subnet and/or cloud)")]
    [InlineData("when: [always, cloud]", "protection.masking.when: never and always stand alone (a list combines leaving_subnet and cloud)")]
    [InlineData("recognizers: [email, passport]", "protection.masking.recognizers[1]: unknown recognizer 'passport' (known: secret, email, iban, card, us_ssn, pesel, nip, ip, phone)")]
    [InlineData("custom: [{ name: bad-name, pattern: x }]", "protection.masking.custom[0].name: 'bad-name' must be letters, digits and underscores, starting with a letter")]
    [InlineData("custom: [{ name: email, pattern: x }]", "protection.masking.custom[0].name: 'email' is the name of a built-in recognizer; choose another")]
    [InlineData("custom: [{ name: twice, pattern: '(a)\\1' }]", "protection.masking.custom[0].pattern: not a regular expression that runs in linear time")]
    [InlineData("rules: [{ tenant: nobody, when: always }]", "protection.masking.rules[0].tenant: no tenant named 'nobody' in tenants:")]
    [InlineData("rules: [{ pool: pool-z, when: always }]", "protection.masking.rules[0].pool: no pool named 'pool-z' in pools:")]
    [InlineData("rules: [{ backend: gpt, when: always }]", "protection.masking.rules[0].backend: no node has a backend 'gpt'")]
    [InlineData("rules: [{ label: secret-ish, when: always }]", "protection.masking.rules[0].label: unknown policy label 'secret-ish' (known: on-prem-only, subnet-only)")]
    [InlineData("rules: [{ tenant: team }]", "protection.masking.rules[0].when: is required (never, always, or leaving_subnet and/or cloud)")]
    [InlineData("when: []", "protection.masking.when: names nothing (never, always, or leaving_subnet and/or cloud)")]
    [InlineData("recognizers: []", "protection.masking.recognizers: lists no recognizer and there is no custom pattern: nothing would ever be masked")]
    [InlineData("custom: [{ name: emp, pattern: x }, { name: EMP, pattern: y }]", "protection.masking.custom: the names 'emp' and 'EMP' give the same placeholders ([EMP_n])")]
    public void Parse_BadMasking_NamesTheFieldAndWhy(string line, string expected)
    {
        var error = Assert.Throws<ConfigException>(() => Parse($"protection:\n  masking:\n    {line}\n"));
        Assert.Contains(error.Errors, e => e.Contains(expected, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(MaskWhen.Never, "pool-a", false, false, false)]
    [InlineData(MaskWhen.Always, "pool-a", false, false, true)]
    [InlineData(MaskWhen.LeavingSubnet, "pool-a", false, false, false)]
    [InlineData(MaskWhen.LeavingSubnet, "pool-b", false, false, true)]
    [InlineData(MaskWhen.LeavingSubnet, "pool-a", true, false, true)]
    [InlineData(MaskWhen.Cloud, "pool-b", false, false, false)]
    [InlineData(MaskWhen.Cloud, "pool-a", false, true, true)]
    [InlineData(MaskWhen.LeavingSubnet | MaskWhen.Cloud, "pool-a", false, true, true)]
    public void Applies_TheDefaultDecidesWhereNoRuleMatches(MaskWhen when, string candidatePool, bool route, bool cloud, bool masked)
    {
        var config = new MaskingConfig(when, Recognizers.Names, [], []);
        Assert.Equal(masked, MaskingPolicy.Applies(config, "team", [], "pool-a", Candidate(candidatePool, route, cloud, "local")));
    }

    [Fact]
    public void Applies_TheFirstMatchingRuleDecides()
    {
        var config = new MaskingConfig(MaskWhen.LeavingSubnet, Recognizers.Names, [],
        [
            new MaskingRule("team", null, null, "local", MaskWhen.Never),
            new MaskingRule("team", null, null, null, MaskWhen.Always),
            new MaskingRule(null, "on-prem-only", null, null, MaskWhen.Never),
        ]);
        var inside = Candidate("pool-a", route: false, cloud: false, "other");
        var across = Candidate("pool-a", route: true, cloud: false, "");

        Assert.False(MaskingPolicy.Applies(config, "team", [], "pool-a", Candidate("pool-a", false, false, "local")));
        Assert.True(MaskingPolicy.Applies(config, "team", [], "pool-a", inside));
        Assert.False(MaskingPolicy.Applies(config, "other", [], "pool-a", inside));
        Assert.True(MaskingPolicy.Applies(config, "other", [], "pool-a", across));
        Assert.False(MaskingPolicy.Applies(config, "other", ["on-prem-only"], "pool-a", across));
    }

    [Fact]
    public void AppliesToAttempt_AMemberWithACloudCopyOfTheModel_IsMaskedForACloudPolicy()
    {
        var config = new MaskingConfig(MaskWhen.Cloud, Recognizers.Names, [], []);
        var local = Candidate("pool-a", route: false, cloud: false, "lmstudio");
        var cloudCopy = Candidate("pool-a", route: false, cloud: true, "openai");
        var elsewhere = Candidate("pool-a", route: false, cloud: true, "openai", node: "other");
        var route = Candidate("pool-a", route: true, cloud: false, "");

        // n may fail over from lmstudio to its own openai copy: masked. A cloud copy on another member is not n's to choose.
        Assert.True(MaskingPolicy.AppliesToAttempt(config, "team", [], "pool-a", local, [local, cloudCopy]));
        Assert.False(MaskingPolicy.AppliesToAttempt(config, "team", [], "pool-a", local, [local, elsewhere]));
        // An integrator chooses among the copies beyond the border, cloud ones among them.
        Assert.True(MaskingPolicy.AppliesToAttempt(config, "team", [], "pool-a", route, [route]));
        Assert.False(MaskingPolicy.AppliesToAttempt(new MaskingConfig(MaskWhen.Never, Recognizers.Names, [], []), "team", [], "pool-a", route, [route]));
    }

    private static RouteCandidate Candidate(string pool, bool route, bool cloud, string backend, string node = "n") => new()
    {
        Node = node, Pool = pool, Address = "https://127.0.0.1:1", Backend = backend, BackendKind = "openai-compatible", Cloud = cloud,
        Model = "m", Aliases = [], Kind = ModelKindConfig.Chat, Quality = 0.5, ContextTokens = 8192, Features = [],
        InputPricePerMillion = 0, OutputPricePerMillion = 0, ViaPools = route ? ["pool-b"] : [],
    };
}
