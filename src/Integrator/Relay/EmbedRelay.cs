using Grpc.Core;
using LlmRouter.Common.Protocol;
using LlmRouter.Integrator.Border;
using LlmRouter.V1;

namespace LlmRouter.Integrator.Relay;

/// <summary>Carries an Embed across the border under the chat's rules (path, deadline, cancellation, retry on another target).</summary>
internal sealed class EmbedRelay(BorderPools pools, BorderTargets targets, BorderClients clients, ChatRelay chat)
{
    private const int MaxAttempts = 3;

    public async Task<EmbedResponse> EmbedAsync(EmbedRequest request, ServerCallContext context)
    {
        var (arrival, requestId, path) = chat.Admit(context);
        if (string.IsNullOrEmpty(request.Model) || request.Inputs.Count == 0)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "model and inputs: a forwarded embedding request names its model and carries its inputs"));
        }

        var ranked = targets.Find(arrival.Name, new BorderQuery(request.Model, ModelKind.Embedding, null, request.PolicyLabels), path);
        var failures = new List<(string Member, RpcException Error)>();
        foreach (var target in ranked.Take(MaxAttempts))
        {
            try
            {
                using var open = targets.Track(target);
                var forwarded = request.Clone();
                forwarded.Model = target.Model.Id;
                var response = await clients.For(target.Pool, target.Address).EmbedAsync(
                    forwarded,
                    ForwardingPath.Headers(requestId, path, pools.IntegratorId),
                    ForwardingPath.NextDeadline(context.Deadline),
                    context.CancellationToken).ConfigureAwait(false);
                response.Route.Path.Insert(0, new Hop { Node = pools.IntegratorId, Pool = arrival.Name });
                return response;
            }
            catch (RpcException ex) when (ChatRelay.Retryable(ex))
            {
                failures.Add((target.Member, ex));
            }
        }

        throw ChatRelay.Exhausted(pools.IntegratorId, request.Model, failures);
    }
}
