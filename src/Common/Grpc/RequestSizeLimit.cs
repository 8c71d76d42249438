using System.Buffers;
using System.Buffers.Binary;
using Microsoft.AspNetCore.Http;

namespace LlmRouter.Common.Grpc;

/// <summary>
/// Refuses a Router or Admin call whose request message is larger than <c>server.max_request_bytes</c> with
/// RESOURCE_EXHAUSTED naming its size, the limit and the setting, before the message is read: it looks at
/// the length in the gRPC frame's 5-byte prefix without consuming it, so an accepted call reads its message
/// as it came. (gRPC's own limit, left in place behind it, would refuse with a text that names neither.)
/// The membership API between members is not a client's to size and keeps its own larger limit.
/// </summary>
internal sealed class RequestSizeLimit(RequestDelegate next, int limit)
{
    private const int PrefixLength = 5;
    private const string ResourceExhausted = "8";

    public async Task InvokeAsync(HttpContext context)
    {
        if (!Applies(context))
        {
            await next(context).ConfigureAwait(false);
            return;
        }

        var reader = context.Request.BodyReader;
        var read = await reader.ReadAtLeastAsync(PrefixLength, context.RequestAborted).ConfigureAwait(false);
        var length = MessageLength(read.Buffer);
        // Nothing consumed: the service reads the message from its first byte.
        reader.AdvanceTo(read.Buffer.Start);
        if (length is { } size && size > limit)
        {
            context.Response.ContentType = "application/grpc";
            context.Response.Headers["grpc-status"] = ResourceExhausted;
            context.Response.Headers["grpc-message"] = Uri.EscapeDataString(
                $"request: {size} bytes, over this mesh's limit of {limit} bytes (server.max_request_bytes in the mesh file)");
            return;
        }

        await next(context).ConfigureAwait(false);
    }

    private static bool Applies(HttpContext context) =>
        context.Request.ContentType?.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase) == true
        && (context.Request.Path.StartsWithSegments("/llmrouter.v1.Router", StringComparison.Ordinal)
            || context.Request.Path.StartsWithSegments("/llmrouter.v1.Admin", StringComparison.Ordinal));

    /// <summary>The message length of the frame prefix, or null when fewer than five bytes came (the service reports that).</summary>
    private static long? MessageLength(ReadOnlySequence<byte> buffer)
    {
        if (buffer.Length < PrefixLength)
        {
            return null;
        }

        Span<byte> prefix = stackalloc byte[PrefixLength];
        buffer.Slice(0, PrefixLength).CopyTo(prefix);
        return BinaryPrimitives.ReadUInt32BigEndian(prefix[1..]);
    }
}
