using Grpc.Core;
using LlmRouter.Common.Forwarding;
using LlmRouter.Common.Hosting;
using LlmRouter.Common.Resilience;
using LlmRouter.Common.Routing;
using LlmRouter.V1;

namespace LlmRouter.Common.Pipeline;

/// <summary>
/// Takes an Embed from the Router service to its answer through the same stages as a chat (admission,
/// arrival, validation, ranking in the host's scope, attempts within the request's budget for the whole
/// path, failures recorded against the copy that failed), on the host's own backend or forwarded. At the
/// entry, the inputs an attempt sends are masked where the masking policy covers it.
/// </summary>
internal sealed class EmbedPipeline(
    IRouterHost host,
    Arrivals arrivals,
    RoutePlanner planner,
    Forwarder forwarder,
    CopyBreakers breakers,
    DrainState drain,
    Quotas.QuotaGate quotas,
    Audit.RouteRecorder recorder,
    TimeProvider time)
{
    public async Task<EmbedResponse> EmbedAsync(EmbedRequest request, ServerCallContext context)
    {
        var receivedAt = time.GetTimestamp();
        var snapshot = host.Current;
        Arrival? arrival = null;
        var account = new RequestAccount();
        try
        {
            using var open = drain.Enter(host.Id);
            arrival = await arrivals.RouterAsync(context, snapshot.Mesh).ConfigureAwait(false);
            RequestValidator.Validate(request);
            using var quota = arrival.Forwarded ? null : quotas.Admit(arrival.Tenant, snapshot.Mesh.SourcePath);
            var response = await RouteAsync(request, context, snapshot, arrival, quota, receivedAt, account).ConfigureAwait(false);
            recorder.Embed(request, arrival, response, account.Masking, account.Attempts, StatusCode.OK, receivedAt);
            return response;
        }
        catch (RpcException ex)
        {
            recorder.Embed(request, arrival, null, account.Masking, account.Attempts, ex.StatusCode, receivedAt);
            throw;
        }
        catch (OperationCanceledException)
        {
            recorder.Embed(request, arrival, null, account.Masking, account.Attempts, context.Deadline < time.GetUtcNow().UtcDateTime ? StatusCode.DeadlineExceeded : StatusCode.Cancelled, receivedAt);
            throw;
        }
        catch (Exception)
        {
            recorder.Embed(request, arrival, null, account.Masking, account.Attempts, StatusCode.Internal, receivedAt);
            throw;
        }
    }

    /// <param name="account">Given the request's masking and attempts, however routing ends (for the route log).</param>
    private async Task<EmbedResponse> RouteAsync(
        EmbedRequest request, ServerCallContext context, HostSnapshot snapshot, Arrival arrival, Quotas.QuotaGate.Admitted? quota, long receivedAt, RequestAccount account)
    {
        var query = RouteQuery.For(request, arrival.Seat.Name);
        var scope = planner.Scope(arrival, RoutingMode.Auto);
        var candidates = planner.Rank(snapshot, query, scope);
        var ledger = new AttemptLedger(arrival.Budget, arrival.FailedBefore, host.Id);
        var self = new Hop { Node = host.Id, Pool = arrival.Seat.Name };
        var masking = arrival.Forwarded ? null : Protection.RequestMasking.ForEntry(snapshot.Mesh.Protection.Masking, arrival.Tenant, request.PolicyLabels, arrival.Seat.Name, candidates);
        account.Masking = masking;
        using var lifetime = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, drain.StreamsAborted);
        var call = new ForwardingContext(self, arrival.RequestId, arrival.Path, context.Deadline, receivedAt, 0, 0, arrival.FailedBefore, arrival.Tenant.Name);
        try
        {
            while (ledger.Next(candidates, () => planner.Rerank(query, scope)) is { } candidate)
            {
                if (breakers.Refusal(candidate.Key) is { } cooling)
                {
                    ledger.Skip(candidate, cooling);
                    continue;
                }

                try
                {
                    var attempt = call with { AttemptsBefore = (uint)ledger.Used, AttemptsLeft = ledger.Remaining, Failed = ledger.ExcludedFor(candidate) };
                    var sent = masking?.For(request, candidate) ?? request;
                    var (response, used) = candidate.IsLocal
                        ? (await host.Local!.EmbedAsync(sent, candidate, RoutePlanner.LocalRoute(attempt, candidate), lifetime.Token).ConfigureAwait(false), 1)
                        : await forwarder.EmbedAsync(sent, candidate, attempt, lifetime.Token).ConfigureAwait(false);
                    await breakers.RecordSuccessAsync(candidate.Key).ConfigureAwait(false);
                    quota?.Used((long)(response.Usage?.InputTokens ?? 0), 0, (response.Usage?.InputTokens ?? 0) * (decimal)candidate.InputPricePerMillion / 1_000_000m);
                    ledger.Served(used);
                    ledger.Report(context.ResponseTrailers);
                    return response;
                }
                catch (RpcException ex) when (!lifetime.IsCancellationRequested)
                {
                    await breakers.RecordFailureAsync(ledger.Fail(candidate, ex), ex).ConfigureAwait(false);
                    if (!AttemptLedger.Retryable(ex))
                    {
                        throw;
                    }
                }
            }

            throw ledger.Exhausted(request.Model);
        }
        catch (OperationCanceledException) when (drain.StreamsAborted.IsCancellationRequested && !context.CancellationToken.IsCancellationRequested)
        {
            throw ledger.Report(new RpcException(new Status(StatusCode.Unavailable,
                $"'{host.Id}' shut down before the embedding was complete (drain bound {snapshot.Server.DrainTimeout.TotalSeconds:0}s reached)")), partial: false);
        }
        catch (RpcException ex) when (ex.StatusCode != StatusCode.Cancelled || !context.CancellationToken.IsCancellationRequested)
        {
            throw ledger.Report(ex, partial: false);
        }
        finally
        {
            account.Attempts = ledger.Used;
        }
    }
}
