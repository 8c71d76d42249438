using Grpc.Core;
using Grpc.Health.V1;
using Grpc.HealthCheck;
using LlmRouter.Common.Hosting;

namespace LlmRouter.Common.Services;

/// <summary>
/// grpc.health.v1 for a node or an integrator: the standard implementation, except that Watch streams end
/// when the host has drained. Otherwise a monitor's open Watch would hold the listener open until the
/// host's shutdown timeout, long after it stopped serving.
/// </summary>
internal sealed class HealthService(HealthServiceImpl statuses, DrainState drain) : Health.HealthBase
{
    public override Task<HealthCheckResponse> Check(HealthCheckRequest request, ServerCallContext context) =>
        statuses.Check(request, context);

    public override async Task Watch(HealthCheckRequest request, IServerStreamWriter<HealthCheckResponse> responseStream, ServerCallContext context)
    {
        using var lifetime = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, drain.Drained);
        await statuses.Watch(request, responseStream, new RecancelledContext(context, lifetime.Token)).ConfigureAwait(false);
        if (drain.Drained.IsCancellationRequested && !context.CancellationToken.IsCancellationRequested)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, "this host has drained and is stopping"));
        }
    }

    /// <summary>The caller's context with a different cancellation token.</summary>
    private sealed class RecancelledContext(ServerCallContext inner, CancellationToken token) : ServerCallContext
    {
        protected override string MethodCore => inner.Method;

        protected override string HostCore => inner.Host;

        protected override string PeerCore => inner.Peer;

        protected override DateTime DeadlineCore => inner.Deadline;

        protected override Metadata RequestHeadersCore => inner.RequestHeaders;

        protected override CancellationToken CancellationTokenCore => token;

        protected override Metadata ResponseTrailersCore => inner.ResponseTrailers;

        protected override Status StatusCore
        {
            get => inner.Status;
            set => inner.Status = value;
        }

        protected override WriteOptions? WriteOptionsCore
        {
            get => inner.WriteOptions;
            set => inner.WriteOptions = value;
        }

        protected override AuthContext AuthContextCore => inner.AuthContext;

        protected override ContextPropagationToken CreatePropagationTokenCore(ContextPropagationOptions? options) =>
            inner.CreatePropagationToken(options);

        protected override Task WriteResponseHeadersAsyncCore(Metadata responseHeaders) => inner.WriteResponseHeadersAsync(responseHeaders);
    }
}
