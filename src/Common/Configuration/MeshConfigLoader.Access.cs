using LlmRouter.Common.Protocol;

namespace LlmRouter.Common.Configuration;

/// <summary>The <c>access:</c> and <c>tenants:</c> sections: who may call, as which tenant, with what permissions and quotas.</summary>
public static partial class MeshConfigLoader
{
    private const string DefaultTenantClaim = "tenant";

    private static (AccessSettings Access, YamlFields? Fields) ReadAccess(YamlFields? fields, string baseDirectory)
    {
        if (fields is null)
        {
            return (AccessSettings.Closed, null);
        }

        var anonymous = fields.Id("anonymous", required: false);
        var operators = fields.StringList("operators");
        var keys = fields.String("keys_file") is { } keysFile ? Path.GetFullPath(keysFile, baseDirectory) : null;
        var jwt = ReadJwt(fields.Map("jwt"), baseDirectory);
        fields.RejectUnknownKeys();
        return (new AccessSettings(anonymous, operators, keys, jwt), fields);
    }

    private static JwtSettings? ReadJwt(YamlFields? fields, string baseDirectory)
    {
        if (fields is null)
        {
            return null;
        }

        var issuer = fields.String("issuer", required: true);
        var audience = fields.String("audience", required: true);
        var keys = fields.String("keys_file", required: true);
        var claim = fields.String("tenant_claim") ?? DefaultTenantClaim;
        fields.RejectUnknownKeys();
        return issuer is null || audience is null || keys is null ? null : new JwtSettings(issuer, audience, Path.GetFullPath(keys, baseDirectory), claim);
    }

    private static Located<TenantConfig> ReadTenant(YamlFields fields)
    {
        var name = fields.Id("name", required: true) ?? "";
        var clients = fields.StringList("clients");
        var models = !fields.Has("models") ? [TenantConfig.Any] : fields.StringList("models");
        var labels = fields.StringList("labels");
        for (var i = 0; i < labels.Count; i++)
        {
            if (!PolicyLabels.All.Contains(labels[i], StringComparer.Ordinal))
            {
                fields.Errors.Add(fields.PositionOf("labels"), $"{fields.FieldPath("labels")}[{i}]",
                    $"unknown policy label '{labels[i]}' (known: {string.Join(", ", PolicyLabels.All)})");
            }
        }

        var cloud = fields.Bool("cloud", true);
        var profiles = !fields.Has("profiles") ? [TenantConfig.Any] : fields.StringList("profiles");
        var limits = ReadLimits(fields.Map("limits"));
        fields.RejectUnknownKeys();
        return new Located<TenantConfig>(new TenantConfig(name, clients, models, labels, cloud, profiles, limits), fields);
    }

    private static TenantLimits ReadLimits(YamlFields? fields)
    {
        if (fields is null)
        {
            return TenantLimits.None;
        }

        var requests = fields.OptionalInt("requests_per_minute", 1, int.MaxValue);
        var input = fields.OptionalInt("input_tokens_per_minute", 1, int.MaxValue);
        var output = fields.OptionalInt("output_tokens_per_minute", 1, int.MaxValue);
        var streams = fields.OptionalInt("concurrent_streams", 1, 1_000_000);
        decimal? budget = !fields.Has("budget_per_day_usd") ? null : (decimal)fields.Double("budget_per_day_usd", 0, 0.000001, 1_000_000_000);
        fields.RejectUnknownKeys();
        return new TenantLimits(requests, input, output, streams, budget);
    }

    /// <summary>
    /// Tenants are unique, a client belongs to one tenant, the anonymous tenant exists, and every profile a tenant
    /// may pick is one the mesh has.
    /// </summary>
    private static void CheckAccess(AccessSettings access, YamlFields? accessFields, List<Located<TenantConfig>> tenants, RoutingSettings routing, ConfigErrorList errors)
    {
        ReportDuplicates(tenants, t => t.Config.Name, "name", "tenant name", errors);
        var owners = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var tenant in tenants)
        {
            foreach (var client in tenant.Config.Clients)
            {
                if (!owners.TryAdd(client, tenant.Config.Name))
                {
                    errors.Add(tenant.Fields.PositionOf("clients"), tenant.Fields.FieldPath("clients"),
                        $"client '{client}' belongs to tenant '{owners[client]}' already: a client acts as one tenant");
                }
            }

            foreach (var profile in tenant.Config.Profiles.Where(p => p != TenantConfig.Any && !routing.Profiles.ContainsKey(p)))
            {
                errors.Add(tenant.Fields.PositionOf("profiles"), tenant.Fields.FieldPath("profiles"),
                    $"unknown routing profile '{profile}' (the mesh has: {string.Join(", ", routing.Profiles.Keys.Order(StringComparer.Ordinal))})");
            }
        }

        if (access.AnonymousTenant is { } anonymous && !tenants.Any(t => t.Config.Name == anonymous))
        {
            errors.Add(accessFields!.PositionOf("anonymous"), accessFields.FieldPath("anonymous"),
                $"tenant '{anonymous}' is not in tenants: name the tenant calls without a credential act as, or leave anonymous out to refuse them");
        }
    }
}
