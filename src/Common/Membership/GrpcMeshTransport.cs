using System.Collections.Concurrent;
using System.Security.Cryptography.X509Certificates;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using LlmRouter.Common.Gossip;
using LlmRouter.Common.Identity;
using LlmRouter.V1;

namespace LlmRouter.Common.Membership;

/// <summary>
/// Carries membership messages as Mesh RPCs over mutual TLS: one persistent channel (HTTP/2 connection)
/// per peer address, each call bounded by the state machine's timeout. Replies are posted back to the
/// membership executor; a failed call reads as no reply, which is what SWIM expects of a lost message.
/// </summary>
internal sealed class GrpcMeshTransport(X509Certificate2 authority, Func<X509Certificate2> clientCertificate, Action<Action> post, TimeProvider time)
    : IMeshTransport, IDisposable
{
    private readonly ConcurrentDictionary<string, (GrpcChannel Channel, Mesh.MeshClient Client)> _peers = new(StringComparer.Ordinal);

    public void Send(MemberAddress target, IMessage request, TimeSpan timeout, Action<IMessage?> onReply)
    {
        if (!Uri.TryCreate(target.Address, UriKind.Absolute, out var address))
        {
            ThreadPool.QueueUserWorkItem(_ => post(() => onReply(null)));
            return;
        }

        var client = _peers.GetOrAdd(target.Address, _ =>
        {
            var channel = MeshChannels.Create(address, authority, clientCertificate());
            return (channel, new Mesh.MeshClient(channel));
        }).Client;
        var options = new CallOptions(deadline: time.GetUtcNow().UtcDateTime + timeout);
        // Never run the reply inline: a call that fails at once would re-enter the state machine mid-step.
        _ = CallAsync(client, request, options).ContinueWith(
            task => post(() => onReply(task.IsCompletedSuccessfully ? task.Result : null)),
            CancellationToken.None,
            TaskContinuationOptions.RunContinuationsAsynchronously,
            TaskScheduler.Default);
    }

    /// <summary>Closes the channel to a member that is gone for good (reaped), so channels do not pile up with churn.</summary>
    public void Forget(string address)
    {
        if (_peers.TryRemove(address, out var peer))
        {
            peer.Channel.Dispose();
        }
    }

    /// <summary>Closes every channel; the next message to a peer opens a new connection (after a certificate rotation).</summary>
    public void Reset()
    {
        foreach (var address in _peers.Keys.ToList())
        {
            if (_peers.TryRemove(address, out var peer))
            {
                peer.Channel.Dispose();
            }
        }
    }

    public void Dispose()
    {
        foreach (var peer in _peers.Values)
        {
            peer.Channel.Dispose();
        }

        _peers.Clear();
    }

    private static async Task<IMessage> CallAsync(Mesh.MeshClient client, IMessage request, CallOptions options) => request switch
    {
        PingRequest ping => await client.PingAsync(ping, options).ConfigureAwait(false),
        IndirectPingRequest indirect => await client.IndirectPingAsync(indirect, options).ConfigureAwait(false),
        GossipRequest gossip => await client.GossipAsync(gossip, options).ConfigureAwait(false),
        PushPullRequest pushPull => await client.PushPullAsync(pushPull, options).ConfigureAwait(false),
        JoinRequest join => await client.JoinAsync(join, options).ConfigureAwait(false),
        LeaveRequest leave => await client.LeaveAsync(leave, options).ConfigureAwait(false),
        _ => throw new ArgumentException($"no Mesh RPC carries {request.Descriptor.FullName}", nameof(request)),
    };
}
