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
/// Runs this node's membership in its pool: the SWIM state machine behind one lock (its executor), the
/// gRPC transport, joining through the seeds until some answer, and publishing the node's models (on
/// start and on every reload) and load (often, rate-limited, with a time to live).
/// </summary>
internal sealed partial class MembershipRuntime(
    NodeCatalog catalog,
    CertificateStore certificates,
    NodeCertificates nodeCertificates,
    SeedResolver seedResolver,
    Resilience.BackendBreakers breakers,
    IServer server,
    TimeProvider time,
    ILogger<MembershipRuntime> logger) : IHostedLifecycleService, IDisposable
{
    private static readonly TimeSpan LoadCheckInterval = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan MaximumJoinRetry = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan WarmWindow = TimeSpan.FromMinutes(5);

    private readonly Lock _gate = new();
    private SwimMembership? _membership;
    private GrpcMeshTransport? _transport;
    private ITimer? _loadTimer;
    private ITimer? _joinTimer;
    private string _lastLoad = "";
    private long _lastLoadPublished;

    /// <summary>Raised with a member's address when it is reaped: gone for good, its channels can close.</summary>
    public event Action<string>? Reaped;

    /// <summary>This member's address as peers dial it: the bound listener (port 0 resolved).</summary>
    public string? Address { get; private set; }

    public bool Started => Volatile.Read(ref _membership) is not null;

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StartedAsync(CancellationToken cancellationToken)
    {
        var snapshot = catalog.Current;
        var mesh = snapshot.Mesh;
        var node = snapshot.Node;
        var own = nodeCertificates.Current;
        var authority = certificates.LoadCertificate(CertificateStore.CaName);
        Address = BoundAddress() ?? node.Listen.ToString().TrimEnd('/');

        var transport = new GrpcMeshTransport(authority, () => nodeCertificates.Current, Post, time);
        _transport = transport;
        var signer = new RotatingUpdateSigner(authority, mesh.Name, own);
        var options = MembershipOptions.Preset(mesh.Gossip.Preset) ?? MembershipOptions.Lan;
        var membership = new SwimMembership(
            new LocalMember(node.Id, Address, node.Pool, MemberRole.Node, own.RawData),
            mesh.Name,
            options,
            _transport,
            new TimerScheduler(time, Post),
            signer,
            new Random());
        membership.Changed += change =>
        {
            LogMemberChange(logger, change.Member.Id, change.Kind.ToString(), change.Member.Incarnation);
            if (change.Kind == MemberEventKind.Reaped)
            {
                transport.Forget(change.Member.Address);
                Reaped?.Invoke(change.Member.Address);
            }
        };
        membership.Rejected += reason => LogUpdateRejected(logger, reason);
        lock (_gate)
        {
            _membership = membership;
            membership.Start();
            membership.PublishModels(ModelInfos.Of(snapshot));
        }

        catalog.Changed += changed => Post(() => membership.PublishModels(ModelInfos.Of(changed)));
        nodeCertificates.Rotated += rotated =>
        {
            // New connections present the new certificate; the new alive update carries it to the pool.
            transport.Reset();
            Post(() =>
            {
                signer.Rotate(rotated);
                membership.UpdateCertificate(rotated.RawData);
            });
        };
        var ownAddresses = new[] { Address, node.Listen.ToString().TrimEnd('/') };
        var seeds = (await seedResolver.ResolveAsync(node.Pool, cancellationToken).ConfigureAwait(false))
            .Where(seed => !ownAddresses.Contains(seed, StringComparer.OrdinalIgnoreCase))
            .ToList();
        Join(seeds, TimeSpan.FromSeconds(1));
        _loadTimer = time.CreateTimer(_ => Post(PublishLoadIfChanged), null, LoadCheckInterval, LoadCheckInterval);
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
    public async Task LeaveAsync(CancellationToken cancellationToken)
    {
        var membership = _membership;
        if (membership is null)
        {
            return;
        }

        Post(membership.Leave);
        if (Read(state => state.Members.All(m => m.IsSelf || m.Status is not (MemberStatus.Alive or MemberStatus.Suspect))))
        {
            // Alone in the pool: nobody to tell.
            return;
        }

        try
        {
            await Task.Delay(membership.Options.GossipInterval * 3, time, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // The shutdown bound passed; the leave went out to the members told directly.
        }
    }

    /// <summary>Hands a peer's request to the state machine; completes with its reply.</summary>
    public Task<IMessage> ReceiveAsync(string sender, IMessage request)
    {
        var reply = new TaskCompletionSource<IMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        var membership = _membership ?? throw new InvalidOperationException("membership has not started yet");
        lock (_gate)
        {
            try
            {
                membership.Receive(sender, request, response => reply.TrySetResult(response));
            }
            catch (MeshRefusedException ex)
            {
                LogRefused(logger, sender, ex.Message);
                reply.TrySetException(ex);
            }
        }

        return reply.Task;
    }

    /// <summary>Reads the membership state under its lock.</summary>
    public T Read<T>(Func<SwimMembership, T> read)
    {
        var membership = _membership ?? throw new InvalidOperationException("membership has not started yet");
        lock (_gate)
        {
            return read(membership);
        }
    }

    public void Dispose()
    {
        _loadTimer?.Dispose();
        _joinTimer?.Dispose();
        lock (_gate)
        {
            _membership?.Stop();
        }

        _transport?.Dispose();
    }

    private void Post(Action action)
    {
        lock (_gate)
        {
            try
            {
                action();
            }
            catch (Exception ex) when (ex is MeshRefusedException or InvalidProtocolBufferException or InvalidOperationException)
            {
                LogActionFailed(logger, ex.Message);
            }
        }
    }

    /// <summary>Tries the seeds until one answers, backing off to at most 30 s between rounds.</summary>
    private void Join(List<string> seeds, TimeSpan retry)
    {
        if (seeds.Count == 0)
        {
            return;
        }

        Post(() => _membership!.Join(seeds, answered =>
        {
            if (answered > 0)
            {
                LogJoined(logger, answered, seeds.Count);
                return;
            }

            var next = retry * 2 > MaximumJoinRetry ? MaximumJoinRetry : retry * 2;
            LogJoinRetry(logger, seeds.Count, retry.TotalSeconds);
            _joinTimer?.Dispose();
            _joinTimer = time.CreateTimer(_ => Join(seeds, next), null, retry, Timeout.InfiniteTimeSpan);
        }));
    }

    /// <summary>
    /// Publishes the load record when it changed, or before the last one goes stale; never more often than
    /// once per second per 32 members, so load gossip per member stays flat as the pool grows.
    /// </summary>
    private void PublishLoadIfChanged()
    {
        var membership = _membership!;
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

    [LoggerMessage(EventId = 4002, Level = LogLevel.Information, Message = "Joined the pool: {Answered} of {Seeds} seed(s) answered")]
    private static partial void LogJoined(ILogger logger, int answered, int seeds);

    [LoggerMessage(EventId = 4003, Level = LogLevel.Warning, Message = "No seed of {Seeds} answered; retrying in {RetrySeconds}s")]
    private static partial void LogJoinRetry(ILogger logger, int seeds, double retrySeconds);

    [LoggerMessage(EventId = 4004, Level = LogLevel.Information, Message = "Member {Member} {Change} (incarnation {Incarnation})")]
    private static partial void LogMemberChange(ILogger logger, string member, string change, ulong incarnation);

    [LoggerMessage(EventId = 4005, Level = LogLevel.Warning, Message = "Refused a mesh message from {Sender}: {Reason}")]
    private static partial void LogRefused(ILogger logger, string sender, string reason);

    [LoggerMessage(EventId = 4007, Level = LogLevel.Warning, Message = "Refused a gossiped update: {Reason}")]
    private static partial void LogUpdateRejected(ILogger logger, string reason);

    [LoggerMessage(EventId = 4006, Level = LogLevel.Warning, Message = "Membership step failed: {Reason}")]
    private static partial void LogActionFailed(ILogger logger, string reason);
}
