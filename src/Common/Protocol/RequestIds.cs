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

    // Ids go into logs and metadata of every hop: letters, digits, '-' and '_' only.
    private static bool IsPlain(char c) => char.IsAsciiLetterOrDigit(c) || c is '-' or '_';
}
