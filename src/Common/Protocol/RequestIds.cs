using Grpc.Core;

namespace LlmRouter.Common.Protocol;

/// <summary>The request id: kept from the caller's metadata when a previous hop set one, otherwise new.</summary>
public static class RequestIds
{
    private const int MaxLength = 64;

    public static string From(Metadata headers) =>
        headers.GetValue(RouterMetadata.RequestId) is { Length: > 0 and <= MaxLength } forwarded && forwarded.All(IsPlain)
            ? forwarded
            : Guid.NewGuid().ToString("N");

    /// <summary>
    /// The id of a request the mesh makes for another one (a guard model's question): the parent's id and a suffix,
    /// the parent's cut short when both would not fit, so the two are found together in the route log.
    /// </summary>
    public static string Derived(string parent, string suffix)
    {
        var tail = "-" + new string(suffix.Where(IsPlain).Take(MaxLength / 2).ToArray());
        return (parent.Length + tail.Length <= MaxLength ? parent : parent[..(MaxLength - tail.Length)]) + tail;
    }

    // Ids go into logs and metadata of every hop: letters, digits, '-' and '_' only.
    private static bool IsPlain(char c) => char.IsAsciiLetterOrDigit(c) || c is '-' or '_';
}
