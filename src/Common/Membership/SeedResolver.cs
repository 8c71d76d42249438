using System.Net;
using LlmRouter.Common.Configuration;
using Microsoft.Extensions.ServiceDiscovery;

namespace LlmRouter.Common.Membership;

/// <summary>
/// Finds where to join a pool through Microsoft.Extensions.ServiceDiscovery: each pool is a service named
/// <c>https://POOL</c> whose endpoints come from configuration (<c>Services:POOL:https</c>, filled from the
/// pool's seeds in the mesh file); host names pass through to DNS when the channel connects.
/// </summary>
internal sealed class SeedResolver(ServiceEndpointResolver resolver)
{
    /// <summary>The configuration entries that describe every pool's seeds.</summary>
    public static IEnumerable<KeyValuePair<string, string?>> Configuration(MeshConfig mesh) =>
        mesh.Pools.SelectMany(pool => pool.SeedsOrNodes.Select((seed, index) =>
            new KeyValuePair<string, string?>($"Services:{pool.Name}:https:{index}", $"{seed.Host}:{seed.Port}")));

    public async Task<IReadOnlyList<string>> ResolveAsync(string pool, CancellationToken cancellationToken)
    {
        var source = await resolver.GetEndpointsAsync($"https://{pool}", cancellationToken).ConfigureAwait(false);
        return source.Endpoints.Select(endpoint => endpoint.EndPoint switch
        {
            DnsEndPoint dns => $"https://{dns.Host}:{dns.Port}",
            IPEndPoint ip => $"https://{(ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{ip.Address}]" : ip.Address.ToString())}:{ip.Port}",
            var other => $"https://{other}",
        }).ToList();
    }
}
