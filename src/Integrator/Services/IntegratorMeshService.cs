using Google.Protobuf;
using Grpc.Core;
using LlmRouter.Common.Grpc;
using LlmRouter.Common.Gossip;
using LlmRouter.Common.Identity;
using LlmRouter.Integrator.Border;
using LlmRouter.V1;

namespace LlmRouter.Integrator.Services;

/// <summary>
/// The internal Mesh API on every pool's listener: a caller's certificate names its pool, and its message
/// goes to this integrator's membership in that pool (never another), with the caller's authenticated id.
/// </summary>
internal sealed class IntegratorMeshService(BorderPools pools, MeshTrust trust)
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
        var pool = pools.Find(caller.Pool) ?? throw new RpcException(new Status(StatusCode.PermissionDenied,
            $"{caller} is in pool '{caller.Pool}', which integrator '{pools.IntegratorId}' does not join"));
        var membership = pool.Membership ?? throw new RpcException(new Status(StatusCode.Unavailable, "membership is starting; retry shortly"));
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
