using Grpc.Core;
using LlmRouter.Common.Configuration;
using LlmRouter.Common.Protocol;
using LlmRouter.Node.Catalog;
using LlmRouter.Node.Hosting;
using LlmRouter.Node.Routing;
using LlmRouter.V1;

namespace LlmRouter.Node.Chat;

/// <summary>
/// Takes a chat from the Router service to its end: admission to the node (drain), validation, routing,
/// and serving. Every way out is a gRPC status: a stream is never dropped without one.
/// </summary>
internal sealed partial class ChatCoordinator(
    NodeCatalog catalog,
    LocalRouter router,
    LocalChatExecutor executor,
    DrainState drain,
    TimeProvider time,
    ILogger<ChatCoordinator> logger)
{
    public async Task ChatAsync(ChatRequest request, IServerStreamWriter<ChatResponse> output, ServerCallContext context)
    {
        var receivedAt = time.GetTimestamp();
        var snapshot = catalog.Current;
        var nodeId = snapshot.Node.Id;
        using var open = drain.Enter(nodeId);
        var requestId = RequestIds.From(context.RequestHeaders);
        using var scope = logger.BeginScope(new Dictionary<string, object> { ["RequestId"] = requestId });

        RequestValidator.Validate(request, snapshot.Mesh.Server);
        var candidates = router.Rank(snapshot, RouteQuery.For(request));
        var chosen = candidates[0].Target;
        var route = new RouteInfo
        {
            RequestId = requestId,
            ServingNode = nodeId,
            Backend = chosen.Backend.Id,
            Model = chosen.Model.Id,
            BackendKind = BackendKindNames.Name(chosen.Backend.Config.Kind),
            Attempt = 1,
        };
        route.Path.Add(new Hop { Node = nodeId, Pool = snapshot.Node.Pool });

        // The call ends on the client's cancellation, its deadline, or the end of a shutdown's drain bound.
        using var lifetime = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, drain.StreamsAborted);
        LogServing(logger, requestId, chosen.Model.Id, chosen.Backend.Id, candidates.Count);
        try
        {
            await executor.ServeAsync(request, chosen, route, output, receivedAt, nodeId, lifetime.Token).ConfigureAwait(false);
            LogServed(logger, requestId, time.GetElapsedTime(receivedAt).TotalMilliseconds);
        }
        catch (OperationCanceledException) when (drain.StreamsAborted.IsCancellationRequested && !context.CancellationToken.IsCancellationRequested)
        {
            throw new RpcException(new Status(StatusCode.Unavailable,
                $"node '{nodeId}' shut down before the answer was complete (drain bound {snapshot.Mesh.Server.DrainTimeout.TotalSeconds:0}s reached)"));
        }
        catch (OperationCanceledException) when (context.CancellationToken.IsCancellationRequested)
        {
            LogCancelled(logger, requestId, context.Deadline < time.GetUtcNow().UtcDateTime ? "deadline passed" : "client cancelled");
            throw;
        }
        catch (RpcException ex)
        {
            LogFailed(logger, requestId, ex.StatusCode, ex.Status.Detail);
            throw;
        }
    }

    [LoggerMessage(EventId = 1001, Level = LogLevel.Information, Message = "Request {RequestId} served by model {Model} on backend {Backend} ({Candidates} candidates)")]
    private static partial void LogServing(ILogger logger, string requestId, string model, string backend, int candidates);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Information, Message = "Request {RequestId} completed in {ElapsedMs:0.0} ms")]
    private static partial void LogServed(ILogger logger, string requestId, double elapsedMs);

    [LoggerMessage(EventId = 1003, Level = LogLevel.Information, Message = "Request {RequestId} ended early: {Reason}; backend request cancelled")]
    private static partial void LogCancelled(ILogger logger, string requestId, string reason);

    [LoggerMessage(EventId = 1004, Level = LogLevel.Warning, Message = "Request {RequestId} failed with {StatusCode}: {Detail}")]
    private static partial void LogFailed(ILogger logger, string requestId, StatusCode statusCode, string detail);
}
