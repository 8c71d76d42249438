using Grpc.Core;
using LlmRouter.V1;

namespace LlmRouter.Common.Protocol;

/// <summary>Checks of the model kind a ListModels request filters by, the same on nodes and integrators.</summary>
public static class ModelKinds
{
    /// <summary>INVALID_ARGUMENT naming the field for a kind this version does not know.</summary>
    public static void EnsureKnown(ModelKind kind)
    {
        if (!Enum.IsDefined(kind))
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument,
                $"kind: unknown model kind {(int)kind} (use MODEL_KIND_CHAT, MODEL_KIND_EMBEDDING or leave it unset)"));
        }
    }

    /// <summary>Whether a model is listed for the requested kind (unspecified lists every kind).</summary>
    public static bool Matches(ModelKind requested, ModelInfo model) => requested == ModelKind.Unspecified || model.Kind == requested;
}
