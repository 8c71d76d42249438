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

    private static readonly string[] GuardrailChecks = ["prompt_injection", "jailbreak", "personal_data", "pattern", "guard_model"];

    // What an answer guardrail can check as the answer streams: text it can find, not a verdict on a whole conversation.
    private static readonly string[] AnswerChecks = ["personal_data", "pattern"];

    private static Located<GuardrailConfig> ReadGuardrail(YamlFields fields)
    {
        var name = fields.Id("name", required: true) ?? "";
        var check = fields.String("check", required: true) ?? "";
        if (check.Length > 0 && !GuardrailChecks.Contains(check, StringComparer.Ordinal))
        {
            fields.Errors.Add(fields.PositionOf("check"), fields.FieldPath("check"), $"unknown check '{check}' (expected {string.Join(", ", GuardrailChecks)})");
        }

        var on = fields.String("on") switch
        {
            null or "request" => GuardrailPhase.Request,
            "answer" => GuardrailPhase.Answer,
            var other => Invalid(fields, "on", $"unknown phase '{other}' (expected request or answer)", GuardrailPhase.Request),
        };
        if (on == GuardrailPhase.Answer && GuardrailChecks.Contains(check, StringComparer.Ordinal) && !AnswerChecks.Contains(check, StringComparer.Ordinal))
        {
            fields.Errors.Add(fields.PositionOf("check"), fields.FieldPath("check"), $"check '{check}' reads requests only (an answer guardrail checks {string.Join(" or ", AnswerChecks)})");
        }

        var pattern = ReadGuardrailPattern(fields, check);
        var kinds = ReadGuardrailKinds(fields, check);
        var guardModel = ReadGuardModel(fields, check);
        var verdict = fields.String("verdict") switch
        {
            null or "block" => GuardrailVerdict.Block,
            "flag" => GuardrailVerdict.Flag,
            "mask" when check == "guard_model" => Invalid(fields, "verdict", "mask needs a check that finds text to mask (a guard model judges the whole request): use block or flag", GuardrailVerdict.Block),
            "mask" => GuardrailVerdict.Mask,
            var other => Invalid(fields, "verdict", $"unknown verdict '{other}' (expected block, flag or mask)", GuardrailVerdict.Block),
        };
        var holdBack = 0;
        if (on == GuardrailPhase.Answer)
        {
            holdBack = fields.Int("hold_back", 64, 0, 4096);
        }
        else if (fields.Has("hold_back"))
        {
            fields.Errors.Add(fields.PositionOf("hold_back"), fields.FieldPath("hold_back"), "is only for an answer guardrail (on: answer)");
        }

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
        return new Located<GuardrailConfig>(
            new GuardrailConfig(name, check, pattern, verdict, tenants, labels) { On = on, Kinds = kinds, GuardModel = guardModel, HoldBack = holdBack }, fields);
    }

    private static string? ReadGuardrailPattern(YamlFields fields, string check)
    {
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

        return pattern;
    }

    private static IReadOnlyList<string> ReadGuardrailKinds(YamlFields fields, string check)
    {
        if (!fields.Has("kinds"))
        {
            return [];
        }

        if (check != "personal_data")
        {
            fields.Errors.Add(fields.PositionOf("kinds"), fields.FieldPath("kinds"), $"is only for check: personal_data (check '{check}' has its own rules)");
            return [];
        }

        var kinds = fields.StringList("kinds");
        for (var i = 0; i < kinds.Count; i++)
        {
            if (!Recognizers.Names.Contains(kinds[i], StringComparer.Ordinal))
            {
                fields.Errors.Add(fields.PositionOf("kinds"), $"{fields.FieldPath("kinds")}[{i}]", $"unknown kind '{kinds[i]}' (known: {string.Join(", ", Recognizers.Names)})");
            }
        }

        return kinds;
    }

    private static readonly string[] GuardModelKeys = ["model", "deadline", "on_failure", "instructions"];

    private static GuardModelConfig? ReadGuardModel(YamlFields fields, string check)
    {
        if (check != "guard_model")
        {
            foreach (var key in GuardModelKeys.Where(fields.Has))
            {
                fields.Errors.Add(fields.PositionOf(key), fields.FieldPath(key), $"is only for check: guard_model");
            }

            return null;
        }

        var model = fields.String("model", required: true) ?? "";
        var deadline = fields.Duration("deadline", TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(50), TimeSpan.FromMinutes(2));
        var failClosed = fields.String("on_failure") switch
        {
            null or "block" => true,
            "allow" => false,
            var other => Invalid(fields, "on_failure", $"unknown choice '{other}' (expected block or allow)", true),
        };
        var instructions = fields.Text("instructions") ?? GuardModelVerdicts.DefaultInstructions;
        return new GuardModelConfig(model, deadline, failClosed, instructions);
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

    /// <summary>Guardrails name tenants of this file; a guard model is served by a node of it, and every tenant its guardrail covers may use it.</summary>
    private static void CheckGuardrails(List<Located<GuardrailConfig>> guardrails, List<Located<TenantConfig>> tenants, List<Located<PoolConfig>> pools, ConfigErrorList errors)
    {
        var models = pools.SelectMany(p => p.Config.Nodes).SelectMany(n => n.Backends).SelectMany(b => b.Models).ToList();
        foreach (var (guardrail, fields) in guardrails)
        {
            foreach (var tenant in guardrail.Tenants.Where(t => !tenants.Exists(known => known.Config.Name == t)))
            {
                errors.Add(fields.PositionOf("tenants"), fields.FieldPath("tenants"), $"no tenant named '{tenant}' in tenants:");
            }

            // A guard model is asked under the request's tenant: every tenant the guardrail covers must be allowed it (by
            // its labels, a guardrail may cover any tenant).
            if (guardrail.GuardModel is { } guard)
            {
                var served = models.Where(m => m.Id == guard.Model || m.Aliases.Contains(guard.Model, StringComparer.Ordinal)).ToList();
                if (served.Count == 0)
                {
                    errors.Add(fields.PositionOf("model"), fields.FieldPath("model"), $"no node of this file serves a model '{guard.Model}' (an id or an alias)");
                    continue;
                }

                bool MayUse(TenantConfig tenant) => tenant.MayUseModel(guard.Model, []) || served.Exists(m => tenant.MayUseModel(m.Id, m.Aliases));
                var covered = guardrail.Tenants.Count == 0 || guardrail.Labels.Count > 0 ? tenants : tenants.Where(t => guardrail.Tenants.Contains(t.Config.Name)).ToList();
                foreach (var (tenant, _) in covered.Where(t => !MayUse(t.Config)))
                {
                    errors.Add(fields.PositionOf("model"), fields.FieldPath("model"),
                        $"tenant '{tenant.Name}' may not use the guard model '{guard.Model}' (add it to the tenant's models, or leave the tenant out of this guardrail's tenants)");
                }
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

    /// <summary>The <c>audit:</c> section: where every process keeps its route log, how often it signs a checkpoint, when a segment rotates, how often it syncs.</summary>
    private static Audit.RouteLogSettings ReadAudit(YamlFields? fields, string baseDirectory)
    {
        var directory = fields?.String("directory") ?? "route-log";
        var interval = fields?.Duration("checkpoint_interval", TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(100), TimeSpan.FromHours(1)) ?? TimeSpan.FromSeconds(10);
        // A segment is read whole at start and by the verifier: at most 1 GiB.
        var megabytes = fields?.Int("segment_megabytes", 64, 1, 1024) ?? 64;
        var sync = fields?.Duration("sync_interval", Audit.RouteLogSettings.DefaultSyncInterval, TimeSpan.Zero, TimeSpan.FromSeconds(10)) ?? Audit.RouteLogSettings.DefaultSyncInterval;
        fields?.RejectUnknownKeys();
        return new Audit.RouteLogSettings(System.IO.Path.GetFullPath(directory, baseDirectory), interval, megabytes * 1024L * 1024) { SyncInterval = sync };
    }

    [GeneratedRegex("^[A-Za-z][A-Za-z0-9_]*$")]
    private static partial Regex CustomName();
}
