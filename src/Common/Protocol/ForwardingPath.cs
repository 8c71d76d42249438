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

    public static string Extend(IReadOnlyList<string> path, string node) => string.Join(",", path.Append(node));
}
