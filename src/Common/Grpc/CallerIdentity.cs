using Grpc.Core;
using LlmRouter.Common.Identity;

namespace LlmRouter.Common.Grpc;

/// <summary>Who is calling, from the client certificate of the mutual TLS connection.</summary>
internal static class CallerIdentity
{
    /// <summary>The caller's mesh identity; UNAUTHENTICATED without a certificate, PERMISSION_DENIED for a wrong role.</summary>
    public static MeshIdentity Require(ServerCallContext context, MeshTrust trust, params MeshRole[] roles)
    {
        var certificate = context.GetHttpContext().Connection.ClientCertificate;
        if (certificate is null)
        {
            throw new RpcException(new Status(StatusCode.Unauthenticated,
                $"{context.Method} needs a client certificate from the mesh CA (mutual TLS)"));
        }

        var identity = trust.IdentifyPeer(certificate) ?? throw new RpcException(new Status(StatusCode.PermissionDenied,
            $"the client certificate '{certificate.Subject}' names no identity of this mesh"));
        if (!roles.Contains(identity.Role))
        {
            throw new RpcException(new Status(StatusCode.PermissionDenied,
                $"{identity} may not call {context.Method} (allowed: {string.Join(", ", roles)})"));
        }

        return identity;
    }
}
