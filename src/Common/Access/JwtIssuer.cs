using LlmRouter.Common.Configuration;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace LlmRouter.Common.Access;

/// <summary>
/// The JWT issuer the mesh file trusts (<c>access.jwt</c>): a token is accepted when it is signed by a key of the
/// issuer's key set file (checked offline, no call to the issuer), names the issuer and the audience, and is within
/// its validity (a minute of clock skew); only asymmetric signatures count (RS*, PS*, ES*), so neither "none" nor
/// an HMAC keyed with a public key passes. The tenant is the claim <c>tenant_claim</c> names.
/// </summary>
internal sealed class JwtIssuer(JwtSettings settings, WatchedFile<JsonWebKeySet> keys) : IDisposable
{
    private static readonly string[] Algorithms =
    [
        SecurityAlgorithms.RsaSha256, SecurityAlgorithms.RsaSha384, SecurityAlgorithms.RsaSha512,
        SecurityAlgorithms.RsaSsaPssSha256, SecurityAlgorithms.RsaSsaPssSha384, SecurityAlgorithms.RsaSsaPssSha512,
        SecurityAlgorithms.EcdsaSha256, SecurityAlgorithms.EcdsaSha384, SecurityAlgorithms.EcdsaSha512,
    ];

    private readonly JsonWebTokenHandler _handler = new() { MapInboundClaims = false };

    public JwtSettings Settings => settings;

    public void Dispose() => keys.Dispose();

    /// <summary>Reads a key set file (RFC 7517); an unreadable one is refused whole.</summary>
    public static JsonWebKeySet ReadKeySet(string path)
    {
        try
        {
            var set = new JsonWebKeySet(File.ReadAllText(path));
            return set.Keys.Count > 0 ? set : throw new InvalidDataException($"{path}: the key set holds no key");
        }
        catch (ArgumentException ex)
        {
            throw new InvalidDataException($"{path}: not a JSON Web Key Set: {ex.Message}", ex);
        }
    }

    /// <summary>Whether the token has a JWT's shape (three dot-separated parts); its content is checked by <see cref="ValidateAsync"/>.</summary>
    public static bool LooksLikeJwt(string token) => token.Count(c => c == '.') == 2;

    /// <summary>The token's subject and tenant, or why it was refused (said without the token, whose parts may be secret).</summary>
    public async Task<JwtOutcome> ValidateAsync(string token)
    {
        var parameters = new TokenValidationParameters
        {
            ValidIssuer = settings.Issuer,
            ValidAudience = settings.Audience,
            IssuerSigningKeys = keys.Current.GetSigningKeys(),
            ValidAlgorithms = Algorithms,
            RequireExpirationTime = true,
            RequireSignedTokens = true,
            ClockSkew = TimeSpan.FromMinutes(1),
        };
        var result = await _handler.ValidateTokenAsync(token, parameters).ConfigureAwait(false);
        if (!result.IsValid)
        {
            return new JwtOutcome(null, null, Why(result.Exception));
        }

        var subject = result.Claims.TryGetValue("sub", out var sub) ? sub?.ToString() : null;
        return result.Claims.TryGetValue(settings.TenantClaim, out var tenant) && tenant is string name && name.Length > 0
            ? new JwtOutcome(name, subject, null)
            : new JwtOutcome(null, subject, $"the token has no '{settings.TenantClaim}' claim naming a tenant (access.jwt.tenant_claim)");
    }

    private string Why(Exception? error) => error switch
    {
        SecurityTokenExpiredException => "the token has expired",
        SecurityTokenNotYetValidException => "the token is not valid yet",
        SecurityTokenNoExpirationException => "the token has no expiry (exp)",
        SecurityTokenInvalidIssuerException => $"the token's issuer is not '{settings.Issuer}' (access.jwt.issuer)",
        SecurityTokenInvalidAudienceException => $"the token's audience is not '{settings.Audience}' (access.jwt.audience)",
        SecurityTokenInvalidAlgorithmException => "the token is not signed with an asymmetric algorithm (RS*, PS*, ES*)",
        SecurityTokenSignatureKeyNotFoundException or SecurityTokenInvalidSignatureException =>
            $"the token's signature does not verify against a key of {settings.KeysFile} (access.jwt.keys_file)",
        SecurityTokenMalformedException => "the token is not a well-formed JWT",
        _ => "the token was refused: " + (error?.GetType().Name ?? "invalid"),
    };
}

/// <param name="Tenant">The tenant the token names; null when it was refused.</param>
/// <param name="Refusal">Why it was refused; null when accepted.</param>
internal sealed record JwtOutcome(string? Tenant, string? Subject, string? Refusal);
