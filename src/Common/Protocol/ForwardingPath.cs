using Grpc.Core;

namespace LlmRouter.Common.Protocol;

/// <summary>
/// The nodes a request has passed through, carried in <see cref="RouterMetadata.Path"/> as comma-separated
/// node ids, entry node first. A node already on the path refuses the request, and the path is never
/// longer than <see cref="MaxHops"/>.
/// </summary>
public static class ForwardingPath
{
    /// <summary>Most forwards one request may take (entry to serving node, through integrators later).</summary>
    public const int MaxHops = 4;

    public static IReadOnlyList<string> Read(Metadata headers) =>
        headers.GetValue(RouterMetadata.Path) is { Length: > 0 } path
            ? path.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            : [];

    /// <summary>Time kept back from the deadline sent on, so a hop can still answer with a status of its own.</summary>
    public static readonly TimeSpan DeadlineMargin = TimeSpan.FromMilliseconds(50);

    public static string Extend(IReadOnlyList<string> path, string node) => string.Join(",", path.Append(node));

    /// <summary>Refuses a request whose path already holds this node (a loop) or has no hop left (FAILED_PRECONDITION).</summary>
    public static void EnsureAllowed(IReadOnlyList<string> path, string self)
    {
        if (path.Contains(self, StringComparer.Ordinal))
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition,
                $"forwarding loop: node '{self}' is already on the path {string.Join(" > ", path)}"));
        }

        if (path.Count >= MaxHops)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition,
                $"hop limit: the request already took {path.Count} hops ({string.Join(" > ", path)}), the most allowed is {MaxHops}"));
        }
    }

    /// <summary>
    /// The metadata of a forwarded call: the request id, the path with this hop appended, the attempts left
    /// of the request's budget, the copies that already failed for it (<see cref="AttemptBudget"/>) and its tenant.
    /// </summary>
    public static Metadata Headers(string requestId, IReadOnlyList<string> path, string self, int attemptsLeft, IReadOnlyCollection<string> failed, string tenant)
    {
        var headers = new Metadata
        {
            { RouterMetadata.RequestId, requestId },
            { RouterMetadata.Tenant, tenant },
            { RouterMetadata.Path, Extend(path, self) },
            { RouterMetadata.Attempts, attemptsLeft.ToString(System.Globalization.CultureInfo.InvariantCulture) },
        };
        if (failed.Count > 0)
        {
            headers.Add(RouterMetadata.Exclude, string.Join(",", failed));
        }

        return headers;
    }

    /// <summary>The deadline sent on: what remains of the caller's minus the margin; none when the caller set none.</summary>
    public static DateTime? NextDeadline(DateTime deadline) => deadline == DateTime.MaxValue ? null : deadline - DeadlineMargin;
}
