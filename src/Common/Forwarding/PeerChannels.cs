using System.Collections.Concurrent;
using Grpc.Core;
using System.Security.Cryptography.X509Certificates;
using Grpc.Net.Client;
using LlmRouter.Common.Identity;
using LlmRouter.Common.Membership;
using LlmRouter.V1;

namespace LlmRouter.Common.Forwarding;

/// <summary>
/// The one cache of channels from this host to the members of its pools, for everything it sends them:
/// membership messages, requests forwarded to a pool member, requests carried to an integrator or across a
/// border. Persistent mutual-TLS channels (HTTP/2 connections) per pool and member address, presenting this
/// host's certificate for that pool (its seat's), so members there know it by that identity. Membership
/// messages and requests ride separate connections: probes of a member that is down fail to connect and
/// back off, and a request to it once it is back must not wait out that backoff. A pool's channels are
/// replaced after its certificate rotates; a member's channels close when the member is reaped.
/// </summary>
internal sealed class PeerChannels(X509Certificate2 authority, IReadOnlyList<PoolSeat> seats) : IDisposable
{
    private readonly ConcurrentDictionary<(string Pool, string Address, Purpose Purpose), Peer> _channels = new();

    private enum Purpose
    {
        Requests,
        Membership,
    }

    /// <summary>The Router API of a member of <paramref name="pool"/>.</summary>
    public Router.RouterClient Router(string pool, string address) => For(pool, address, Purpose.Requests).Router;

    /// <summary>The Mesh API of a member of <paramref name="pool"/>.</summary>
    public Mesh.MeshClient Mesh(string pool, string address) => For(pool, address, Purpose.Membership).Mesh;

    /// <summary>Closes the channels to a member that is gone for good (reaped), so channels do not pile up with churn.</summary>
    public void Forget(string pool, string address) => Close(key => key.Pool == pool && key.Address == address);

    /// <summary>Closes every channel of one pool; the next call opens a new connection (after a certificate rotation).</summary>
    public void Reset(string pool) => Close(key => key.Pool == pool);

    public void Dispose() => Close(_ => true);

    private void Close(Func<(string Pool, string Address, Purpose Purpose), bool> which)
    {
        foreach (var key in _channels.Keys.Where(which).ToList())
        {
            if (_channels.TryRemove(key, out var peer))
            {
                peer.Channel.Dispose();
            }
        }
    }

    private Peer For(string pool, string address, Purpose purpose) => _channels.GetOrAdd((pool, address, purpose), key =>
    {
        var seat = seats.FirstOrDefault(s => string.Equals(s.Name, key.Pool, StringComparison.Ordinal))
            ?? throw new InvalidOperationException($"this host has no seat in pool '{key.Pool}'");
        // A member's address comes from its own alive update: refuse one that is not a URL this host can dial.
        if (!Uri.TryCreate(key.Address, UriKind.Absolute, out var uri) || uri.Scheme != Uri.UriSchemeHttps)
        {
            throw new RpcException(new Status(StatusCode.Unavailable,
                $"member address '{key.Address}' in pool '{key.Pool}' is not an https URL"));
        }

        var channel = MeshChannels.Create(uri, authority, seat.Certificate.Current);
        return new Peer(channel, new Router.RouterClient(channel), new Mesh.MeshClient(channel));
    });

    private sealed record Peer(GrpcChannel Channel, Router.RouterClient Router, Mesh.MeshClient Mesh);
}
