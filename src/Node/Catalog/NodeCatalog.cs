using LlmRouter.Common.Configuration;
using LlmRouter.Node.Backends;

namespace LlmRouter.Node.Catalog;

/// <summary>
/// Holds the current <see cref="CatalogSnapshot"/> and replaces it on reload. Backends that keep their id
/// keep their admission gate and statistics, so limits and in-flight counts stay true across a reload.
/// </summary>
internal sealed class NodeCatalog
{
    private readonly BackendFactory _factory;
    private readonly Lock _applyLock = new();
    private volatile CatalogSnapshot _current;

    public NodeCatalog(MeshConfig mesh, string nodeId, BackendFactory factory)
    {
        _factory = factory;
        _current = Build(mesh, nodeId, previous: null);
    }

    public CatalogSnapshot Current => _current;

    public string NodeId => _current.Node.Id;

    /// <summary>Raised after a new snapshot is published.</summary>
    public event Action<CatalogSnapshot>? Changed;

    /// <summary>Publishes the node's part of a newly loaded mesh file.</summary>
    public CatalogSnapshot Apply(MeshConfig mesh)
    {
        CatalogSnapshot next;
        lock (_applyLock)
        {
            next = Build(mesh, NodeId, _current);
            _current = next;
        }

        Changed?.Invoke(next);
        return next;
    }

    private CatalogSnapshot Build(MeshConfig mesh, string nodeId, CatalogSnapshot? previous)
    {
        var node = mesh.FindNode(nodeId) ?? throw new InvalidOperationException(
            $"{mesh.SourcePath}: node '{nodeId}' is not in the file (nodes: {string.Join(", ", mesh.AllNodes.Select(n => n.Id))})");
        if (previous is not null && previous.Node.Listen != node.Listen)
        {
            throw new InvalidOperationException(
                $"{mesh.SourcePath}: node '{nodeId}' changed its listen address to {node.Listen}; that needs a restart (still listening on {previous.Node.Listen})");
        }

        // Listeners and the telemetry pipeline are built once at start: a change to them is refused, not half applied.
        if (previous is not null && (previous.Node.HttpListen != node.HttpListen || previous.Node.MetricsListen != node.MetricsListen))
        {
            throw new InvalidOperationException(
                $"{mesh.SourcePath}: node '{nodeId}' changed its http_listen or metrics_listen; that needs a restart (still {previous.Node.HttpListen?.ToString() ?? "none"} and {previous.Node.MetricsListen?.ToString() ?? "none"})");
        }

        if (previous is not null && previous.Mesh.Telemetry != mesh.Telemetry)
        {
            throw new InvalidOperationException($"{mesh.SourcePath}: the telemetry section changed; that needs a restart (the running node keeps the one it started with)");
        }

        // The route log is opened once, in its directory, with its interval and segment size.
        if (previous is not null && previous.Mesh.Audit != mesh.Audit)
        {
            throw new InvalidOperationException($"{mesh.SourcePath}: the audit section changed; that needs a restart (the running node keeps its route log where it started it)");
        }

        // Which credential files are watched, and which issuer is trusted, is decided at start (the files themselves
        // are read again when they change; tenants, operators and the anonymous tenant reload with this file).
        if (previous is not null && (previous.Mesh.Access.KeysFile != mesh.Access.KeysFile || previous.Mesh.Access.Jwt != mesh.Access.Jwt))
        {
            throw new InvalidOperationException($"{mesh.SourcePath}: access.keys_file or access.jwt changed; that needs a restart (the running node keeps checking the ones it started with)");
        }

        _factory.CheckSecrets(node);
        var backends = node.Backends
            .Select(config => _factory.Create(config, previous?.Backends.FirstOrDefault(b => b.Id == config.Id)))
            .ToList();
        return new CatalogSnapshot(mesh, node, backends, (previous?.Version ?? 0) + 1);
    }
}
