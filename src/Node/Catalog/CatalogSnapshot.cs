using LlmRouter.Common.Configuration;
using LlmRouter.Common.Pipeline;
using LlmRouter.Common.Routing;
using LlmRouter.Node.Backends;

namespace LlmRouter.Node.Catalog;

/// <summary>
/// What this node serves right now: its part of the mesh file, its backends and the routing settings, and
/// the snapshot the request pipeline reads (<see cref="Host"/>: the same settings and a candidate per local
/// model, built once here). Immutable; a reload publishes a new snapshot and requests in flight keep the
/// one they started with.
/// </summary>
internal sealed class CatalogSnapshot
{
    public CatalogSnapshot(MeshConfig mesh, NodeConfig node, IReadOnlyList<Backend> backends, long version)
    {
        Mesh = mesh;
        Node = node;
        Backends = backends;
        Version = version;
        Models = [.. backends.SelectMany(backend => backend.Config.Models.Select(model => new LocalModel(backend, model)))];
        Host = new HostSnapshot(mesh, [.. Models.Select(model => model.Candidate(node))]);
    }

    public MeshConfig Mesh { get; }

    public NodeConfig Node { get; }

    public IReadOnlyList<Backend> Backends { get; }

    public long Version { get; }

    /// <summary>Every model of every backend of this node.</summary>
    public IReadOnlyList<LocalModel> Models { get; }

    /// <summary>What the request pipeline reads: the settings and a route candidate per local model.</summary>
    public HostSnapshot Host { get; }

    public RoutingSettings Routing => Mesh.Routing;
}

/// <summary>One model of one local backend; as a routing target, the backend's live gauges.</summary>
internal sealed record LocalModel(Backend Backend, ModelConfig Model) : ILocalTarget
{
    public TimeSpan? TimeToFirstToken => Backend.Stats.TimeToFirstToken;

    public int Running => Backend.Admission.Running;

    public int Queued => Backend.Admission.Queued;

    public int MaxConcurrency => Backend.Admission.MaxConcurrency;

    public TimeSpan EstimatedWait => Backend.Admission.EstimatedWait;

    public long LastServedTimestamp => Backend.Stats.LastServedTimestamp;

    public bool Answers(string name) =>
        string.Equals(Model.Id, name, StringComparison.Ordinal) || Model.Aliases.Contains(name, StringComparer.Ordinal);

    /// <summary>This model as a route candidate of the node's own.</summary>
    public RouteCandidate Candidate(NodeConfig node) => new()
    {
        Node = node.Id,
        Pool = node.Pool,
        Address = "",
        Backend = Backend.Id,
        BackendKind = BackendKindNames.Name(Backend.Config.Kind),
        Cloud = Backend.Config.IsCloud,
        Model = Model.Id,
        Aliases = Model.Aliases,
        Kind = Model.Kind,
        Quality = Model.Quality,
        ContextTokens = Model.ContextTokens,
        Features = Model.Features,
        InputPricePerMillion = Model.InputPricePerMillion,
        OutputPricePerMillion = Model.OutputPricePerMillion,
        Local = this,
    };
}
