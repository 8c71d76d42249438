using Google.Protobuf;
using Grpc.Core;
using LlmRouter.Common.Forwarding;
using LlmRouter.Common.Gossip;
using LlmRouter.V1;

namespace LlmRouter.Common.Membership;

/// <summary>
/// Carries one pool's membership messages as Mesh RPCs over mutual TLS, on the host's one channel cache
/// (the same connection that carries forwarded requests to that member), each call bounded by the state
/// machine's timeout. Replies are posted back to the membership executor; a failed call reads as no reply,
/// which is what SWIM expects of a lost message.
/// </summary>
internal sealed class GrpcMeshTransport(PeerChannels channels, string pool, Action<Action> post, TimeProvider time) : IMeshTransport
{
    public void Send(MemberAddress target, IMessage request, TimeSpan timeout, Action<IMessage?> onReply)
    {
        Mesh.MeshClient client;
        try
        {
            client = channels.Mesh(pool, target.Address);
        }
        catch (RpcException)
        {
            // Not an address this host can dial (PeerChannels says why): as good as no reply.
            ThreadPool.QueueUserWorkItem(_ => post(() => onReply(null)));
            return;
        }

        var options = new CallOptions(deadline: time.GetUtcNow().UtcDateTime + timeout);
        // Never run the reply inline: a call that fails at once would re-enter the state machine mid-step.
        _ = CallAsync(client, request, options).ContinueWith(
            task => post(() => onReply(task.IsCompletedSuccessfully ? task.Result : null)),
            CancellationToken.None,
            TaskContinuationOptions.RunContinuationsAsynchronously,
            TaskScheduler.Default);
    }

    /// <summary>Closes the channel to a member that is gone for good (reaped), so channels do not pile up with churn.</summary>
    public void Forget(string address) => channels.Forget(pool, address);

    /// <summary>Closes every channel of the pool; the next message opens a new connection (after a certificate rotation).</summary>
    public void Reset() => channels.Reset(pool);

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
