using LlmRouter.Common.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.Tokens;

namespace LlmRouter.Common.Access;

/// <summary>Callers, tenants and their credentials, wired once for nodes and integrators (DESIGN.md section 13).</summary>
internal static class AccessHosting
{
    public static IServiceCollection AddMeshAccess(this IServiceCollection services, MeshConfig mesh)
    {
        services.AddSingleton(provider =>
        {
            var time = provider.GetRequiredService<TimeProvider>();
            var logger = provider.GetRequiredService<ILoggerFactory>().CreateLogger("LlmRouter.Access");
            var keys = mesh.Access.KeysFile is { } keysFile
                ? new WatchedFile<IReadOnlyDictionary<string, ApiKeyEntry>>(keysFile, AccessCredentials.ReadKeys, new Dictionary<string, ApiKeyEntry>(), time, logger)
                : null;
            var jwt = mesh.Access.Jwt is { } settings
                ? new JwtIssuer(settings, new WatchedFile<JsonWebKeySet>(settings.KeysFile, JwtIssuer.ReadKeySet, new JsonWebKeySet(), time, logger))
                : null;
            return new AccessCredentials(keys, jwt, time);
        });
        services.AddSingleton<Callers>();
        return services;
    }
}
