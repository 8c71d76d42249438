using LlmRouter.Common.Membership;
using LlmRouter.Common.Grpc;
using Google.Protobuf;
using Grpc.Core;
using LlmRouter.Common.Gossip;
using LlmRouter.Common.Identity;
using LlmRouter.Node.Catalog;
using LlmRouter.Node.Hosting;
using LlmRouter.Node.Membership;
using LlmRouter.V1;

namespace LlmRouter.Node.Services;

/// <summary>
/// The internal Mesh API (llmrouter.v1.Mesh): only members of this mesh and pool (node or integrator
/// certificates) may call it; each message goes to the membership state machine with the caller's
/// authenticated id, so a member cannot speak for another.
/// </summary>
internal sealed class MeshService(MembershipRuntime membership, MeshTrust trust, NodeCatalog catalog)
{
    public Task<PingResponse> Ping(PingRequest request, ServerCallContext context) => Handle<PingResponse>(request, context);

    public Task<IndirectPingResponse> IndirectPing(IndirectPingRequest request, ServerCallContext context) => Handle<IndirectPingResponse>(request, context);

    public Task<GossipResponse> Gossip(GossipRequest request, ServerCallContext context) => Handle<GossipResponse>(request, context);

    public Task<PushPullResponse> PushPull(PushPullRequest request, ServerCallContext context) => Handle<PushPullResponse>(request, context);

    public Task<JoinResponse> Join(JoinRequest request, ServerCallContext context) => Handle<JoinResponse>(request, context);

    public Task<LeaveResponse> Leave(LeaveRequest request, ServerCallContext context) => Handle<LeaveResponse>(request, context);

    private async Task<TResponse> Handle<TResponse>(IMessage request, ServerCallContext context)
        where TResponse : class, IMessage
    {
        var caller = CallerIdentity.Require(context, trust, MeshRole.Node, MeshRole.Integrator);
        var pool = catalog.Current.Node.Pool;
        if (caller.Pool != pool)
        {
            throw new RpcException(new Status(StatusCode.PermissionDenied, $"{caller} is not a member of pool '{pool}'"));
        }

        if (!membership.Started)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, "membership is starting; retry shortly"));
        }

        try
        {
            return (TResponse)await membership.ReceiveAsync(caller.Name, request).ConfigureAwait(false);
        }
        catch (MeshRefusedException ex)
        {
            throw new RpcException(new Status(StatusCode.PermissionDenied, ex.Message));
        }
    }
}
