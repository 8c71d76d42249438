using Grpc.Core;
using LlmRouter.Common.Configuration;
using LlmRouter.Common.Identity;
using LlmRouter.Common.Protocol;

namespace LlmRouter.Common.Access;

/// <summary>Whom a request is served for: the tenant it counts against and what proved it (never the credential itself).</summary>
/// <param name="ProvenBy">For the request's log scope (and the route log to come): "client certificate 'svc-a'", "API key 3f9a2c1b7d4e", "anonymous", ...</param>
internal sealed record Principal(TenantConfig Tenant, string ProvenBy);

/// <summary>
/// Identifies the caller of a Router call and the tenant it acts as (DESIGN.md section 13), the same on nodes and
/// integrators. A client proves itself with a token (an API key of this mesh, or a JWT of the configured issuer, in
/// <c>authorization</c> or in Anthropic's <c>x-api-key</c>), checked strictly wherever it is sent, or else with a
/// client certificate from the mesh CA (<c>spiffe://MESH/client/NAME</c>, whose tenant lists NAME); with neither,
/// it is the anonymous tenant when the mesh file names one. A token that is not one of ours (OpenAI's SDKs always
/// send one) counts as no credential. A
/// forwarded request's tenant is asserted by the member that forwarded it, in <c>llmrouter-tenant</c>: members are
/// proven by their certificates (<see cref="Pipeline.Arrivals"/>), and every hop checks the same permissions.
/// Refusals: no or a bad credential UNAUTHENTICATED, a credential of no tenant PERMISSION_DENIED; each names the
/// setting to change, never the credential.
/// </summary>
internal sealed class Callers(AccessCredentials credentials)
{
    public async ValueTask<Principal> IdentifyAsync(ServerCallContext context, MeshIdentity? member, bool forwarded, MeshConfig mesh)
    {
        if (forwarded)
        {
            return Asserted(context.RequestHeaders, member, mesh);
        }

        // A credential of this mesh wherever the client put it (authorization with or without "Bearer", x-api-key)
        // is checked strictly: one that fails is refused, never served as anonymous.
        foreach (var token in Tokens(context.RequestHeaders))
        {
            if (ApiKeys.LooksLikeKey(token))
            {
                return ByKey(token, mesh);
            }

            if (credentials.Jwt is { } jwt && JwtIssuer.LooksLikeJwt(token))
            {
                return await ByJwtAsync(jwt, token, mesh).ConfigureAwait(false);
            }
        }

        if (member is { Role: MeshRole.Client } client)
        {
            var tenant = mesh.Tenants.FirstOrDefault(t => t.Clients.Contains(client.Name, StringComparer.Ordinal))
                ?? throw new RpcException(new Status(StatusCode.PermissionDenied,
                    $"client certificate '{client.Name}' belongs to no tenant: add it to a tenant's clients in {mesh.SourcePath}"));
            return new Principal(tenant, $"client certificate '{client.Name}'");
        }

        return mesh.Access.AnonymousTenant is { } anonymous && mesh.FindTenant(anonymous) is { } open
            ? new Principal(open, "anonymous")
            : throw new RpcException(new Status(StatusCode.Unauthenticated,
                "no credential: send an API key (authorization: Bearer llmr_...)" + (credentials.Jwt is null ? "" : " or a JWT") +
                ", or a client certificate from the mesh CA; calls without one are off (access.anonymous)"));
    }

    /// <summary>The tenant the member that forwarded the request asserts; it must be one of this process's mesh file.</summary>
    private static Principal Asserted(Metadata headers, MeshIdentity? member, MeshConfig mesh)
    {
        var by = member?.Name ?? "a member";
        var name = headers.GetValue(RouterMetadata.Tenant);
        if (string.IsNullOrEmpty(name))
        {
            throw new RpcException(new Status(StatusCode.PermissionDenied,
                $"{RouterMetadata.Tenant}: '{by}' forwarded the request without naming its tenant (every member of this version names it)"));
        }

        return mesh.FindTenant(name) is { } tenant
            ? new Principal(tenant, $"tenant asserted by {by}")
            : throw new RpcException(new Status(StatusCode.PermissionDenied,
                $"{RouterMetadata.Tenant}: '{by}' forwarded a request of tenant '{name}', which {mesh.SourcePath} does not list (the members' mesh files differ)"));
    }

    private Principal ByKey(string token, MeshConfig mesh)
    {
        if (!ApiKeys.TryParse(token, out var id, out var secret))
        {
            throw new RpcException(new Status(StatusCode.Unauthenticated, "authorization: the API key is malformed (llmr_ID_SECRET, as the keys command prints it)"));
        }

        var entry = credentials.Key(id);
        if (entry is null || !ApiKeys.Matches(entry, secret))
        {
            throw new RpcException(new Status(StatusCode.Unauthenticated,
                $"authorization: API key {id} is not a key of this mesh (revoked, or never issued; the keys command lists those in access.keys_file)"));
        }

        if (entry.ExpiredAt(credentials.Now))
        {
            throw new RpcException(new Status(StatusCode.Unauthenticated,
                $"authorization: API key {id} was rotated and expired at {entry.Expires:u}; use its successor"));
        }

        return mesh.FindTenant(entry.Tenant) is { } tenant
            ? new Principal(tenant, $"API key {id}")
            : throw new RpcException(new Status(StatusCode.PermissionDenied,
                $"API key {id} belongs to tenant '{entry.Tenant}', which {mesh.SourcePath} does not list"));
    }

    private static async Task<Principal> ByJwtAsync(JwtIssuer jwt, string token, MeshConfig mesh)
    {
        var outcome = await jwt.ValidateAsync(token).ConfigureAwait(false);
        if (outcome.Tenant is null)
        {
            throw new RpcException(new Status(StatusCode.Unauthenticated, "authorization: " + outcome.Refusal));
        }

        var subject = outcome.Subject is null ? "" : $" (subject '{outcome.Subject}')";
        return mesh.FindTenant(outcome.Tenant) is { } tenant
            ? new Principal(tenant, $"JWT of {jwt.Settings.Issuer}{subject}")
            : throw new RpcException(new Status(StatusCode.PermissionDenied,
                $"the JWT{subject} names tenant '{outcome.Tenant}', which {mesh.SourcePath} does not list"));
    }

    /// <summary>The tokens a client sent: <c>authorization</c> (its bearer token, or the value itself) and <c>x-api-key</c>.</summary>
    private static IEnumerable<string> Tokens(Metadata headers)
    {
        const string Bearer = "Bearer ";
        if (headers.GetValue(AuthorizationHeader) is { Length: > 0 } authorization)
        {
            yield return authorization.StartsWith(Bearer, StringComparison.OrdinalIgnoreCase) ? authorization[Bearer.Length..].Trim() : authorization.Trim();
        }

        if (headers.GetValue(ApiKeyHeader) is { Length: > 0 } apiKey)
        {
            yield return apiKey.Trim();
        }
    }

    /// <summary>Where clients put credentials: OpenAI's SDKs and gRPC clients in authorization, Anthropic's in x-api-key.</summary>
    public const string AuthorizationHeader = "authorization";

    public const string ApiKeyHeader = "x-api-key";
}

/// <summary>
/// The credentials the process checks, read at start from the files the mesh file names and read again when they
/// change: the API keys file and the JWT issuer's key set. Changing which files (or the issuer) takes a restart.
/// </summary>
internal sealed class AccessCredentials(WatchedFile<IReadOnlyDictionary<string, ApiKeyEntry>>? keys, JwtIssuer? jwt, TimeProvider time) : IDisposable
{
    public JwtIssuer? Jwt => jwt;

    public DateTimeOffset Now => time.GetUtcNow();

    public ApiKeyEntry? Key(string id) => keys?.Current.GetValueOrDefault(id);

    public void Dispose()
    {
        keys?.Dispose();
        jwt?.Dispose();
    }

    public static IReadOnlyDictionary<string, ApiKeyEntry> ReadKeys(string path) =>
        ApiKeyFile.Read(path).ToDictionary(entry => entry.Id, StringComparer.Ordinal);
}
