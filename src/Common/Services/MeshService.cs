using Google.Protobuf;
using Grpc.Core;
using LlmRouter.Common.Gossip;
using LlmRouter.Common.Pipeline;
using LlmRouter.V1;

namespace LlmRouter.Common.Services;

/// <summary>
/// The internal Mesh API (llmrouter.v1.Mesh) of every node and integrator: only members (node or integrator
/// certificates) of the pool whose listener was called may call it, and each message goes to the
/// membership of that pool (never another) with the caller's authenticated id, so a member cannot speak
/// for another, nor into a pool it is not in.
/// </summary>
internal sealed class MeshService(Arrivals arrivals)
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
        var (seat, caller) = arrivals.Member(context);
        var membership = seat.Membership ?? throw new RpcException(new Status(StatusCode.Unavailable, "membership is starting; retry shortly"));
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
