using System.Collections.Concurrent;
using Grpc.Net.Client;
using LlmRouter.Common.Identity;
using LlmRouter.Integrator.Border;
using LlmRouter.V1;

namespace LlmRouter.Integrator.Relay;

/// <summary>
/// Router API clients for carrying requests into a pool: one persistent mutual-TLS channel per member
/// address, presenting the integrator's certificate for that pool (members there know it by that identity).
/// </summary>
internal sealed class BorderClients : IDisposable
{
    private readonly ConcurrentDictionary<string, (GrpcChannel Channel, Router.RouterClient Client)> _channels = new(StringComparer.Ordinal);
    private readonly CertificateStore _store;

    public BorderClients(BorderPools pools, CertificateStore store)
    {
        _store = store;
        pools.Reaped += Forget;
        foreach (var pool in pools.All)
        {
            pool.Certificate.Rotated += _ => Reset();
        }
    }

    public Router.RouterClient For(BorderPool pool, string address) => _channels.GetOrAdd(address, _ =>
    {
        var channel = MeshChannels.Create(new Uri(address), _store.LoadCertificate(CertificateStore.CaName), pool.Certificate.Current);
        return (channel, new Router.RouterClient(channel));
    }).Client;

    public void Forget(string address)
    {
        if (_channels.TryRemove(address, out var peer))
        {
            peer.Channel.Dispose();
        }
    }

    public void Dispose() => Reset();

    private void Reset()
    {
        foreach (var address in _channels.Keys.ToList())
        {
            Forget(address);
        }
    }
}
