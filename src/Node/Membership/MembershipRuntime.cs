using LlmRouter.Common.Membership;
using LlmRouter.Common.Grpc;
using System.Security.Cryptography.X509Certificates;
using Google.Protobuf;
using LlmRouter.Common.Configuration;
using LlmRouter.Common.Gossip;
using LlmRouter.Common.Identity;
using LlmRouter.Node.Catalog;
using LlmRouter.Node.Hosting;
using LlmRouter.V1;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace LlmRouter.Node.Membership;

/// <summary>
/// Runs this node's membership in its pool (a <see cref="PoolMembership"/>: SWIM over gRPC with mutual
/// TLS, joining through the seeds) and publishes the node's models (on start and on every reload) and load
/// (often, rate-limited, with a time to live).
/// </summary>
internal sealed partial class MembershipRuntime(
    NodeCatalog catalog,
    CertificateStore certificates,
    MemberCertificate nodeCertificate,
    SeedResolver seedResolver,
    Resilience.BackendBreakers breakers,
    IServer server,
    TimeProvider time,
    ILogger<MembershipRuntime> logger) : IHostedLifecycleService, IDisposable
{
    private static readonly TimeSpan LoadCheckInterval = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan WarmWindow = TimeSpan.FromMinutes(5);

    private PoolMembership? _pool;
    private ITimer? _loadTimer;
    private string _lastLoad = "";
    private long _lastLoadPublished;

    /// <summary>Raised with a member's address when it is reaped: gone for good, its channels can close.</summary>
    public event Action<string>? Reaped;

    /// <summary>This member's address as peers dial it: the bound listener (port 0 resolved).</summary>
    public string? Address { get; private set; }

    public bool Started => Volatile.Read(ref _pool) is not null;

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StartedAsync(CancellationToken cancellationToken)
    {
        var snapshot = catalog.Current;
        var mesh = snapshot.Mesh;
        var node = snapshot.Node;
        Address = BoundAddress() ?? node.Listen.ToString().TrimEnd('/');
        var ownAddresses = new[] { Address, node.Listen.ToString().TrimEnd('/') };
        var seeds = (await seedResolver.ResolveAsync(node.Pool, cancellationToken).ConfigureAwait(false))
            .Where(seed => !ownAddresses.Contains(seed, StringComparer.OrdinalIgnoreCase))
            .ToList();

        var pool = new PoolMembership(
            new LocalMember(node.Id, Address, node.Pool, MemberRole.Node, nodeCertificate.Current.RawData),
            mesh.Name,
            mesh.Gossip.Options(),
            certificates.LoadCertificate(CertificateStore.CaName),
            () => nodeCertificate.Current,
            seeds,
            time,
            logger);
        pool.Changed += change =>
        {
            if (change.Kind == MemberEventKind.Reaped)
            {
                Reaped?.Invoke(change.Member.Address);
            }
            else if (change.Kind is MemberEventKind.Joined or MemberEventKind.Alive && !change.Member.IsSelf)
            {
                breakers.Forget(change.Member.Id);
            }
        };
        pool.Start(state => state.PublishModels(ModelInfos.Of(snapshot)));
        Volatile.Write(ref _pool, pool);

        catalog.Changed += changed => pool.Post(state => state.PublishModels(ModelInfos.Of(changed)));
        nodeCertificate.Rotated += pool.Rotate;
        _loadTimer = time.CreateTimer(_ => pool.Post(PublishLoadIfChanged), null, LoadCheckInterval, LoadCheckInterval);
        LogStarted(logger, node.Id, Address, mesh.Gossip.Preset, seeds.Count);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken)
    {
        Dispose();
        return Task.CompletedTask;
    }

    /// <summary>Announces a graceful leave and gives it a few gossip rounds to spread (DESIGN.md section 7).</summary>
    public Task LeaveAsync(CancellationToken cancellationToken) =>
        _pool is { } pool ? pool.LeaveAsync(cancellationToken) : Task.CompletedTask;

    /// <summary>Hands a peer's request to the state machine; completes with its reply.</summary>
    public Task<IMessage> ReceiveAsync(string sender, IMessage request) => Pool.ReceiveAsync(sender, request);

    /// <summary>Reads the membership state under its lock.</summary>
    public T Read<T>(Func<SwimMembership, T> read) => Pool.Read(read);

    /// <summary>The pool as routing reads it (empty before the membership starts); replaced only when something in it changed.</summary>
    public MembershipSnapshot Snapshot => Volatile.Read(ref _pool)?.Snapshot ?? MembershipSnapshot.Empty;

    public void Dispose()
    {
        _loadTimer?.Dispose();
        _pool?.Dispose();
    }

    private PoolMembership Pool => _pool ?? throw new InvalidOperationException("membership has not started yet");

    /// <summary>
    /// Publishes the load record when it changed, or before the last one goes stale; never more often than
    /// once per second per 32 members, so load gossip per member stays flat as the pool grows.
    /// </summary>
    private void PublishLoadIfChanged(SwimMembership membership)
    {
        var snapshot = catalog.Current;
        var loads = snapshot.Backends.Select(backend => WithCooldown(new BackendLoad
        {
            Backend = backend.Id,
            InFlight = (uint)backend.Admission.Running,
            Queued = (uint)backend.Admission.Queued,
            MaxConcurrency = (uint)backend.Admission.MaxConcurrency,
            TimeToFirstTokenMs = backend.Stats.TimeToFirstToken?.TotalMilliseconds ?? 0,
            TokensPerSecond = backend.Stats.TokensPerSecond ?? 0,
            ErrorRate = backend.Stats.ErrorRate,
            WarmModels = { WarmModels(backend) },
        }, breakers.CooldownUntil($"{snapshot.Node.Id}/{backend.Id}"))).ToList();
        var fingerprint = string.Join(";", loads.Select(l => $"{l.Backend}:{l.InFlight}:{l.Queued}:{l.MaxConcurrency}:{l.WarmModels.Count}:{l.CooldownUntil}"));
        var sincePublished = time.GetElapsedTime(_lastLoadPublished);
        var spacing = LoadCheckInterval * Math.Max(1, Math.Ceiling(membership.Count / 32.0));
        var keepAlive = membership.Options.LoadRecordTimeToLive / 2;
        if (_lastLoadPublished != 0 && sincePublished < spacing)
        {
            return;
        }

        if (_lastLoadPublished == 0 || fingerprint != _lastLoad || sincePublished >= keepAlive)
        {
            membership.PublishLoad(loads, time.GetUtcNow());
            _lastLoad = fingerprint;
            _lastLoadPublished = time.GetTimestamp();
        }
    }

    private static BackendLoad WithCooldown(BackendLoad load, DateTimeOffset? until)
    {
        if (until is { } end)
        {
            load.CooldownUntil = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(end);
        }

        return load;
    }

    /// <summary>A backend that answered within the warm window keeps its models loaded (for local servers).</summary>
    private IEnumerable<string> WarmModels(Backends.Backend backend) =>
        backend.Stats.LastServedTimestamp != 0 && time.GetElapsedTime(backend.Stats.LastServedTimestamp) < WarmWindow
            ? backend.Config.Models.Select(m => m.Id)
            : [];

    private string? BoundAddress() =>
        server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault() is { } bound
            ? bound.Replace("[::]", "127.0.0.1", StringComparison.Ordinal).TrimEnd('/')
            : null;

    [LoggerMessage(EventId = 4001, Level = LogLevel.Information, Message = "Membership of {NodeId} started at {Address} ({Preset} preset), {Seeds} seed(s)")]
    private static partial void LogStarted(ILogger logger, string nodeId, string address, string preset, int seeds);
}
