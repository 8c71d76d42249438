namespace LlmRouter.Common.Protocol;

/// <summary>gRPC metadata keys the mesh reads and writes (lower case, as HTTP/2 requires).</summary>
public static class RouterMetadata
{
    /// <summary>Trailer telling the client how long to wait before retrying (gRFC A6).</summary>
    public const string RetryPushback = "grpc-retry-pushback-ms";

    /// <summary>The request id, the same on every hop.</summary>
    public const string RequestId = "llmrouter-request-id";

    /// <summary>Nodes already on the path, comma separated: a node on it refuses the request (no loops).</summary>
    public const string Path = "llmrouter-path";

    /// <summary>Trailer set when a stream ended early after text was sent: the answer is partial.</summary>
    public const string Partial = "llmrouter-partial";

    /// <summary>Trailer naming the node that ended the stream with an error.</summary>
    public const string FailedNode = "llmrouter-failed-node";
}
