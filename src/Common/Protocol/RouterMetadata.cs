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

    /// <summary>Header of a forwarded call: backends the hop and those below it may still try (<see cref="AttemptBudget"/>).</summary>
    public const string Attempts = "llmrouter-attempts";

    /// <summary>Header of a forwarded call: copies ("node/backend") that already failed for the request, comma separated.</summary>
    public const string Exclude = "llmrouter-exclude";

    /// <summary>Header of a forwarded call: the tenant the request is served for, asserted by the member that forwards it.</summary>
    public const string Tenant = "llmrouter-tenant";

    /// <summary>Trailer: backends this hop and those below it tried for the request.</summary>
    public const string AttemptsUsed = "llmrouter-attempts-used";

    /// <summary>Trailer: copies ("node/backend", or "integrator/route:model") that failed for the request, comma separated.</summary>
    public const string FailedCopies = "llmrouter-failed";
}
