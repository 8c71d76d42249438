using System.Text.RegularExpressions;
using LlmRouter.Common.Protection;
using LlmRouter.Common.Protocol;

namespace LlmRouter.Common.Configuration;

/// <summary>The <c>protection:</c> section: masking before a border (docs/protection.md).</summary>
public static partial class MeshConfigLoader
{
    private static readonly (string Name, MaskWhen When)[] MaskWhenNames =
        [("never", MaskWhen.Never), ("always", MaskWhen.Always), ("leaving_subnet", MaskWhen.LeavingSubnet), ("cloud", MaskWhen.Cloud)];

    private static (ProtectionConfig Config, List<Located<MaskingRule>> Rules, List<Located<GuardrailConfig>> Guardrails) ReadProtection(YamlFields? fields)
    {
        if (fields is null)
        {
            return (ProtectionConfig.Default, [], []);
        }

        var (masking, rules) = ReadMasking(fields.Map("masking"));
        var guardrails = fields.MapList("guardrails", required: false).Select(ReadGuardrail).ToList();
        foreach (var twice in guardrails.GroupBy(g => g.Config.Name).Where(g => g.Count() > 1))
        {
            var second = twice.Skip(1).First().Fields;
            fields.Errors.Add(second.PositionOf("name"), second.FieldPath("name"), $"guardrail '{twice.Key}' is named twice");
        }

        fields.RejectUnknownKeys();
        return (new ProtectionConfig(masking) { Guardrails = guardrails.Select(g => g.Config).ToList() }, rules, guardrails);
    }

    private static readonly string[] GuardrailChecks = ["prompt_injection", "jailbreak", "pattern"];

    private static Located<GuardrailConfig> ReadGuardrail(YamlFields fields)
    {
        var name = fields.Id("name", required: true) ?? "";
        var check = fields.String("check", required: true) ?? "";
        if (check.Length > 0 && !GuardrailChecks.Contains(check, StringComparer.Ordinal))
        {
            fields.Errors.Add(fields.PositionOf("check"), fields.FieldPath("check"), $"unknown check '{check}' (expected {string.Join(", ", GuardrailChecks)})");
        }

        var pattern = fields.String("pattern");
        if (check == "pattern" && pattern is null)
        {
            fields.Errors.Add(fields.PositionOf("check"), fields.FieldPath("pattern"), "is required for check: pattern");
        }
        else if (check != "pattern" && pattern is not null)
        {
            fields.Errors.Add(fields.PositionOf("pattern"), fields.FieldPath("pattern"), $"is only for check: pattern (check '{check}' has its own rules)");
        }
        else if (pattern is not null)
        {
            try
            {
                _ = new Regex(pattern, MaskingRecognizers.CustomOptions);
            }
            catch (Exception ex) when (ex is ArgumentException or NotSupportedException)
            {
                fields.Errors.Add(fields.PositionOf("pattern"), fields.FieldPath("pattern"),
                    $"not a regular expression that runs in linear time (no backreferences, lookarounds or atomic groups): {ex.Message}");
            }
        }

        var verdict = fields.String("verdict") switch
        {
            null or "block" => GuardrailVerdict.Block,
            "flag" => GuardrailVerdict.Flag,
            var other => Invalid(fields, "verdict", $"unknown verdict '{other}' (expected block or flag)", GuardrailVerdict.Block),
        };
        var tenants = fields.StringList("tenants");
        var labels = fields.StringList("labels");
        for (var i = 0; i < labels.Count; i++)
        {
            if (!PolicyLabels.All.Contains(labels[i], StringComparer.Ordinal))
            {
                fields.Errors.Add(fields.PositionOf("labels"), $"{fields.FieldPath("labels")}[{i}]", $"unknown policy label '{labels[i]}' (known: {string.Join(", ", PolicyLabels.All)})");
            }
        }

        fields.RejectUnknownKeys();
        return new Located<GuardrailConfig>(new GuardrailConfig(name, check, pattern, verdict, tenants, labels), fields);
    }

    private static (MaskingConfig Config, List<Located<MaskingRule>> Rules) ReadMasking(YamlFields? fields)
    {
        if (fields is null)
        {
            return (MaskingConfig.Off, []);
        }

        var when = ReadMaskWhen(fields, "when", MaskWhen.Never);
        var recognizers = fields.Has("recognizers") ? fields.StringList("recognizers") : Recognizers.Names;
        for (var i = 0; i < recognizers.Count; i++)
        {
            if (!Recognizers.Names.Contains(recognizers[i], StringComparer.Ordinal))
            {
                fields.Errors.Add(fields.PositionOf("recognizers"), $"{fields.FieldPath("recognizers")}[{i}]",
                    $"unknown recognizer '{recognizers[i]}' (known: {string.Join(", ", Recognizers.Names)})");
            }
        }

        var custom = fields.MapList("custom", required: false).Select(ReadCustomPattern).OfType<CustomPattern>().ToList();
        foreach (var twice in custom.GroupBy(c => c.Name.ToUpperInvariant()).Where(g => g.Count() > 1))
        {
            fields.Errors.Add(fields.PositionOf("custom"), fields.FieldPath("custom"),
                $"the names {string.Join(" and ", twice.Select(c => $"'{c.Name}'"))} give the same placeholders ([{twice.Key}_n]); choose names that differ by more than case");
        }

        if (fields.Has("recognizers") && recognizers.Count == 0 && custom.Count == 0)
        {
            fields.Errors.Add(fields.PositionOf("recognizers"), fields.FieldPath("recognizers"), "lists no recognizer and there is no custom pattern: nothing would ever be masked");
        }
        var rules = fields.MapList("rules", required: false).Select(rule =>
        {
            var tenant = rule.String("tenant");
            var label = rule.String("label");
            if (label is not null && !PolicyLabels.All.Contains(label, StringComparer.Ordinal))
            {
                rule.Errors.Add(rule.PositionOf("label"), rule.FieldPath("label"), $"unknown policy label '{label}' (known: {string.Join(", ", PolicyLabels.All)})");
            }

            var pool = rule.String("pool");
            var backend = rule.String("backend");
            var ruleWhen = ReadMaskWhen(rule, "when", MaskWhen.Never, required: true);
            rule.RejectUnknownKeys();
            return new Located<MaskingRule>(new MaskingRule(tenant, label, pool, backend, ruleWhen), rule);
        }).ToList();
        fields.RejectUnknownKeys();
        return (new MaskingConfig(when, recognizers, custom, rules.Select(r => r.Config).ToList()), rules);
    }

    /// <summary><c>never</c>, <c>always</c>, or one or both of <c>leaving_subnet</c> and <c>cloud</c>.</summary>
    private static MaskWhen ReadMaskWhen(YamlFields fields, string key, MaskWhen fallback, bool required = false)
    {
        if (!fields.Has(key))
        {
            if (required)
            {
                fields.Errors.Add(fields.PositionOf(key), fields.FieldPath(key), "is required (never, always, or leaving_subnet and/or cloud)");
            }

            return fallback;
        }

        var when = MaskWhen.Never;
        var words = fields.StringOrList(key);
        if (words.Count == 0)
        {
            fields.Errors.Add(fields.PositionOf(key), fields.FieldPath(key), "names nothing (never, always, or leaving_subnet and/or cloud)");
        }

        foreach (var word in words)
        {
            var known = Array.FindIndex(MaskWhenNames, n => n.Name == word);
            if (known < 0)
            {
                fields.Errors.Add(fields.PositionOf(key), fields.FieldPath(key),
                    $"unknown value '{word}' (expected never, always, or leaving_subnet and/or cloud)");
                continue;
            }

            when |= MaskWhenNames[known].When;
        }

        if (words.Count > 1 && words.Any(w => w is "never" or "always"))
        {
            fields.Errors.Add(fields.PositionOf(key), fields.FieldPath(key), "never and always stand alone (a list combines leaving_subnet and cloud)");
        }

        return when;
    }

    private static CustomPattern? ReadCustomPattern(YamlFields fields)
    {
        var name = fields.String("name", required: true);
        var pattern = fields.String("pattern", required: true);
        fields.RejectUnknownKeys();
        if (name is not null && !CustomName().IsMatch(name))
        {
            fields.Errors.Add(fields.PositionOf("name"), fields.FieldPath("name"), $"'{name}' must be letters, digits and underscores, starting with a letter");
            return null;
        }

        if (name is not null && Recognizers.BuiltIn.Any(r => string.Equals(r.Label, name, StringComparison.OrdinalIgnoreCase) || r.Name == name))
        {
            fields.Errors.Add(fields.PositionOf("name"), fields.FieldPath("name"), $"'{name}' is the name of a built-in recognizer; choose another");
            return null;
        }

        if (pattern is null || name is null)
        {
            return null;
        }

        try
        {
            _ = new Regex(pattern, MaskingRecognizers.CustomOptions);
        }
        catch (Exception ex) when (ex is ArgumentException or NotSupportedException)
        {
            fields.Errors.Add(fields.PositionOf("pattern"), fields.FieldPath("pattern"),
                $"not a regular expression that runs in linear time (no backreferences, lookarounds or atomic groups): {ex.Message}");
            return null;
        }

        return new CustomPattern(name, pattern);
    }

    /// <summary>Guardrails name tenants of this file.</summary>
    private static void CheckGuardrails(List<Located<GuardrailConfig>> guardrails, List<Located<TenantConfig>> tenants, ConfigErrorList errors)
    {
        foreach (var (guardrail, fields) in guardrails)
        {
            foreach (var tenant in guardrail.Tenants.Where(t => !tenants.Exists(known => known.Config.Name == t)))
            {
                errors.Add(fields.PositionOf("tenants"), fields.FieldPath("tenants"), $"no tenant named '{tenant}' in tenants:");
            }
        }
    }

    /// <summary>Rules name tenants, pools and backends of this file.</summary>
    private static void CheckMasking(List<Located<MaskingRule>> rules, List<Located<TenantConfig>> tenants, List<Located<PoolConfig>> pools, ConfigErrorList errors)
    {
        var backends = pools.SelectMany(p => p.Config.Nodes).SelectMany(n => n.Backends).Select(b => b.Id).ToHashSet(StringComparer.Ordinal);
        foreach (var (rule, fields) in rules)
        {
            if (rule.Tenant is { } tenant && !tenants.Exists(t => t.Config.Name == tenant))
            {
                errors.Add(fields.PositionOf("tenant"), fields.FieldPath("tenant"), $"no tenant named '{tenant}' in tenants:");
            }

            if (rule.Pool is { } pool && !pools.Exists(p => p.Config.Name == pool))
            {
                errors.Add(fields.PositionOf("pool"), fields.FieldPath("pool"), $"no pool named '{pool}' in pools:");
            }

            if (rule.Backend is { } backend && !backends.Contains(backend))
            {
                errors.Add(fields.PositionOf("backend"), fields.FieldPath("backend"), $"no node has a backend '{backend}'");
            }
        }
    }

    /// <summary>The <c>audit:</c> section: where every process keeps its route log, how often it signs a checkpoint, when a segment rotates.</summary>
    private static Audit.RouteLogSettings ReadAudit(YamlFields? fields, string baseDirectory)
    {
        var directory = fields?.String("directory") ?? "route-log";
        var interval = fields?.Duration("checkpoint_interval", TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(100), TimeSpan.FromHours(1)) ?? TimeSpan.FromSeconds(10);
        // A segment is read whole at start and by the verifier: at most 1 GiB.
        var megabytes = fields?.Int("segment_megabytes", 64, 1, 1024) ?? 64;
        fields?.RejectUnknownKeys();
        return new Audit.RouteLogSettings(System.IO.Path.GetFullPath(directory, baseDirectory), interval, megabytes * 1024L * 1024);
    }

    [GeneratedRegex("^[A-Za-z][A-Za-z0-9_]*$")]
    private static partial Regex CustomName();
}
