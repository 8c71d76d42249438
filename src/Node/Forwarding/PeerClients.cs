using LlmRouter.Common.Membership;
using LlmRouter.Common.Grpc;
using System.Collections.Concurrent;
using Grpc.Net.Client;
using LlmRouter.Common.Identity;
using LlmRouter.Node.Hosting;
using LlmRouter.V1;

namespace LlmRouter.Node.Forwarding;

/// <summary>
/// Router API clients for forwarding, one persistent mutual-TLS channel per peer address, presenting this
/// node's certificate (so the peer knows who forwards). Channels are replaced after a certificate rotation.
/// </summary>
internal sealed class PeerClients : IDisposable
{
    private readonly ConcurrentDictionary<string, (GrpcChannel Channel, Router.RouterClient Client)> _peers = new(StringComparer.Ordinal);
    private readonly MemberCertificate _certificates;
    private readonly CertificateStore _store;

    public PeerClients(MemberCertificate certificates, CertificateStore store, Membership.MembershipRuntime membership)
    {
        _certificates = certificates;
        _store = store;
        certificates.Rotated += _ => Reset();
        membership.Reaped += Forget;
    }

    public Router.RouterClient For(string address) => _peers.GetOrAdd(address, _ =>
    {
        var channel = MeshChannels.Create(new Uri(address), _store.LoadCertificate(CertificateStore.CaName), _certificates.Current);
        return (channel, new Router.RouterClient(channel));
    }).Client;

    /// <summary>Closes the channel to a member that is gone for good.</summary>
    public void Forget(string address)
    {
        if (_peers.TryRemove(address, out var peer))
        {
            peer.Channel.Dispose();
        }
    }

    public void Dispose() => Reset();

    private void Reset()
    {
        foreach (var address in _peers.Keys.ToList())
        {
            if (_peers.TryRemove(address, out var peer))
            {
                peer.Channel.Dispose();
            }
        }
    }
}
