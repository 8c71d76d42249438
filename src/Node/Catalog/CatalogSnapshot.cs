using LlmRouter.Common.Configuration;
using LlmRouter.Node.Backends;

namespace LlmRouter.Node.Catalog;

/// <summary>
/// What this node serves right now: its part of the mesh file, its backends and the routing settings.
/// Immutable; a reload publishes a new snapshot and requests in flight keep the one they started with.
/// </summary>
internal sealed record CatalogSnapshot(MeshConfig Mesh, NodeConfig Node, IReadOnlyList<Backend> Backends, long Version)
{
    public RoutingSettings Routing => Mesh.Routing;

    /// <summary>Every model of every backend of this node.</summary>
    public IEnumerable<LocalModel> Models =>
        Backends.SelectMany(backend => backend.Config.Models.Select(model => new LocalModel(backend, model)));
}

/// <summary>One model of one local backend.</summary>
internal readonly record struct LocalModel(Backend Backend, ModelConfig Model)
{
    public bool Answers(string name) =>
        string.Equals(Model.Id, name, StringComparison.Ordinal) || Model.Aliases.Contains(name, StringComparer.Ordinal);
}
