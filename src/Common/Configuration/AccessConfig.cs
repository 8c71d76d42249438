namespace LlmRouter.Common.Configuration;

/// <summary>
/// Who may call the mesh and as which tenant (DESIGN.md section 13): the mesh file's <c>access:</c> section.
/// Without one, every call must bring a credential (anonymous calls are refused) and no client is an operator.
/// </summary>
/// <param name="AnonymousTenant">The tenant a call with no credential acts as; null: such calls are refused UNAUTHENTICATED.</param>
/// <param name="Operators">Client names (<c>spiffe://MESH/client/NAME</c> certificates) that may call the Admin API.</param>
/// <param name="KeysFile">Full path of the API keys file (salted hashes, written by the <c>keys</c> command); null: no API keys.</param>
/// <param name="Jwt">The issuer whose JWTs are accepted, checked offline against its key set; null: no JWTs.</param>
public sealed record AccessSettings(string? AnonymousTenant, IReadOnlyList<string> Operators, string? KeysFile, JwtSettings? Jwt)
{
    public static AccessSettings Closed { get; } = new(null, [], null, null);
}

/// <param name="KeysFile">Full path of the issuer's JSON Web Key Set (RFC 7517), read at start and when it changes.</param>
/// <param name="TenantClaim">The claim that names the caller's tenant.</param>
public sealed record JwtSettings(string Issuer, string Audience, string KeysFile, string TenantClaim);

/// <summary>
/// A tenant: a team or service the mesh serves, what its callers may use and how much (the mesh file's
/// <c>tenants:</c>). Lists hold "*" for "any".
/// </summary>
/// <param name="Clients">Client certificate names (<c>spiffe://MESH/client/NAME</c>) that act as this tenant.</param>
/// <param name="Models">Model ids and aliases it may ask for ("*": any); a model is allowed when its id or one of its aliases is listed.</param>
/// <param name="Labels">Policy labels applied to every request of the tenant (for example on-prem-only).</param>
/// <param name="Cloud">Whether its requests may reach cloud backends.</param>
/// <param name="Profiles">Routing profiles it may pick ("*": any).</param>
public sealed record TenantConfig(
    string Name,
    IReadOnlyList<string> Clients,
    IReadOnlyList<string> Models,
    IReadOnlyList<string> Labels,
    bool Cloud,
    IReadOnlyList<string> Profiles,
    TenantLimits Limits)
{
    public const string Any = "*";

    /// <summary>A tenant that may use everything, without limits.</summary>
    public static TenantConfig Open(string name) => new(name, [], [Any], [], true, [Any], TenantLimits.None);

    public bool MayUseProfile(string profile) => Profiles.Contains(Any) || Profiles.Contains(profile, StringComparer.Ordinal);

    /// <summary>Whether the model (its id or one of its aliases) is in the tenant's list.</summary>
    public bool MayUseModel(string id, IReadOnlyList<string> aliases)
    {
        if (Models.Contains(Any) || Models.Contains(id, StringComparer.Ordinal))
        {
            return true;
        }

        foreach (var alias in aliases)
        {
            if (Models.Contains(alias, StringComparer.Ordinal))
            {
                return true;
            }
        }

        return false;
    }
}

/// <summary>A tenant's quotas, each held across the whole mesh; null: no limit.</summary>
/// <param name="BudgetPerDayUsd">Spend per UTC day, from the models' prices and the usage backends report.</param>
public sealed record TenantLimits(
    int? RequestsPerMinute,
    long? InputTokensPerMinute,
    long? OutputTokensPerMinute,
    int? ConcurrentStreams,
    decimal? BudgetPerDayUsd)
{
    public static TenantLimits None { get; } = new(null, null, null, null, null);
}
