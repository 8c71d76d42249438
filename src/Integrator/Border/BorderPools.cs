using LlmRouter.Common.Gossip;
using LlmRouter.Common.Identity;
using LlmRouter.Common.Membership;
using LlmRouter.Integrator.Hosting;
using LlmRouter.V1;

namespace LlmRouter.Integrator.Border;

/// <summary>
/// Every pool the integrator belongs to. Each has its own certificate (its identity there is
/// <c>.../pool/POOL/integrator/ID</c>) and its own SWIM membership; probing and gossip never cross a
/// border, only routes do (DESIGN.md section 5).
/// </summary>
internal sealed partial class BorderPools : IHostedLifecycleService, IDisposable
{
    private readonly IntegratorLaunch _launch;
    private readonly CertificateStore _store;
    private readonly SeedResolver _seeds;
    private readonly ILogger<BorderPools> _logger;
    private readonly Dictionary<string, BorderPool> _pools;

    public BorderPools(IntegratorLaunch launch, CertificateStore store, MeshTrust trust, SeedResolver seeds, ILoggerFactory loggers)
    {
        _launch = launch;
        _store = store;
        _seeds = seeds;
        _logger = loggers.CreateLogger<BorderPools>();
        var certificateLogger = loggers.CreateLogger<MemberCertificate>();
        _pools = launch.Config.Pools.ToDictionary(
            pool => pool.Pool,
            pool => new BorderPool(pool, new MemberCertificate(store, pool.CertificateName(launch.IntegratorId), trust, launch.Time, certificateLogger)),
            StringComparer.Ordinal);
    }

    public string IntegratorId => _launch.IntegratorId;

    public IReadOnlyCollection<BorderPool> All => _pools.Values;

    public bool Started { get; private set; }

    /// <summary>Raised with a member's address when it is reaped in any pool: its channels can close.</summary>
    public event Action<string>? Reaped;

    /// <summary>Raised (on a pool's executor) when any member of any pool changes status or models.</summary>
    public event Action? Changed;

    public BorderPool? Find(string pool) => _pools.GetValueOrDefault(pool);

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Starts one membership per pool once the listeners are up, and joins each pool through its seeds.</summary>
    public async Task StartedAsync(CancellationToken cancellationToken)
    {
        var mesh = _launch.Mesh;
        var options = mesh.Gossip.Options();
        foreach (var pool in _pools.Values)
        {
            var seeds = await _seeds.ResolveAsync(pool.Name, cancellationToken).ConfigureAwait(false);
            var membership = new PoolMembership(
                new LocalMember(IntegratorId, pool.Address, pool.Name, MemberRole.Integrator, pool.Certificate.Current.RawData),
                mesh.Name,
                options,
                _store.LoadCertificate(CertificateStore.CaName),
                () => pool.Certificate.Current,
                seeds,
                _launch.Time,
                _logger);
            membership.Changed += change =>
            {
                if (change.Kind == MemberEventKind.Reaped)
                {
                    Reaped?.Invoke(change.Member.Address);
                }

                Changed?.Invoke();
            };
            pool.Certificate.Rotated += membership.Rotate;
            pool.Membership = membership;
            membership.Start(_ => { });
            LogJoining(_logger, IntegratorId, pool.Name, pool.Address, seeds.Count);
        }

        Started = true;
    }

    /// <summary>Leaves every pool on shutdown, so members stop routing here before the listeners close.</summary>
    public Task StoppingAsync(CancellationToken cancellationToken) =>
        Task.WhenAll(_pools.Values.Select(pool => pool.Membership?.LeaveAsync(cancellationToken) ?? Task.CompletedTask));

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken)
    {
        Dispose();
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        foreach (var pool in _pools.Values)
        {
            pool.Membership?.Dispose();
            pool.Certificate.Dispose();
        }
    }

    [LoggerMessage(EventId = 6001, Level = LogLevel.Information, Message = "Integrator {Integrator} joining pool {Pool} at {Address}, {Seeds} seed(s)")]
    private static partial void LogJoining(ILogger logger, string integrator, string pool, string address, int seeds);
}
