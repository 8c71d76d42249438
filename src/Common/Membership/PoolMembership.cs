using System.Security.Cryptography.X509Certificates;
using Google.Protobuf;
using LlmRouter.Common.Forwarding;
using LlmRouter.Common.Gossip;
using LlmRouter.V1;
using Microsoft.Extensions.Logging;

namespace LlmRouter.Common.Membership;

/// <summary>
/// One member's place in one pool over the network: the SWIM state machine behind one lock (its
/// executor), the gRPC transport with the member's certificate, joining through the seeds until one
/// answers, and reconnecting after a partition heals. A node runs one; an integrator runs one per pool.
/// </summary>
internal sealed partial class PoolMembership : IDisposable
{
    private static readonly TimeSpan FirstJoinRetry = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan MaximumJoinRetry = TimeSpan.FromSeconds(30);

    // Serf's reconnect: a member declared dead may only have been cut off; ask it (or the seeds, when no
    // one is left) for a full state exchange now and then, so a healed partition merges again.
    private static readonly TimeSpan ReconnectInterval = TimeSpan.FromSeconds(5);

    private readonly Lock _gate = new();
    private readonly GrpcMeshTransport _transport;
    private readonly RotatingUpdateSigner _signer;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly IReadOnlyList<string> _seeds;
    private readonly Func<double> _random;
    private ITimer? _joinTimer;
    private ITimer? _reconnectTimer;
    private bool _joining;

    public PoolMembership(
        LocalMember local,
        string meshName,
        MembershipOptions options,
        X509Certificate2 authority,
        X509Certificate2 certificate,
        IEnumerable<string> seeds,
        PeerChannels channels,
        Func<double> random,
        TimeProvider time,
        ILogger logger)
    {
        _time = time;
        _logger = logger;
        _random = random;
        _seeds = seeds.Where(seed => !string.Equals(seed, local.Address, StringComparison.OrdinalIgnoreCase)).ToList();
        _transport = new GrpcMeshTransport(channels, local.Pool, Post, time);
        _signer = new RotatingUpdateSigner(authority, meshName, certificate);
        // The state machine's own generator (its shuffles and picks), seeded from the host's one source of chance.
        State = new SwimMembership(local, meshName, options, _transport, new TimerScheduler(time, Post), _signer, new Random((int)(random() * int.MaxValue)),
            firstRecordNumber: (ulong)time.GetUtcNow().ToUnixTimeMilliseconds());
        State.Changed += change =>
        {
            LogMemberChange(_logger, local.Pool, change.Member.Id, change.Kind.ToString(), change.Member.Incarnation);
            if (change.Kind == MemberEventKind.Reaped)
            {
                _transport.Forget(change.Member.Address);
            }
        };
        State.Rejected += reason => LogUpdateRejected(_logger, local.Pool, reason);
        Local = local;
    }

    public LocalMember Local { get; }

    /// <summary>The state machine; touch it only through <see cref="Post"/> and <see cref="Read{T}"/>.</summary>
    private SwimMembership State { get; }

    /// <summary>The membership's counts (messages, suspicions, refusals), for metrics; readable from any thread.</summary>
    public MembershipStatistics Statistics => State.Statistics;

    /// <summary>Raised on the executor for every change of a member's status (alive, suspect, dead, left, reaped).</summary>
    public event Action<MemberEvent>? Changed
    {
        add => State.Changed += value;
        remove => State.Changed -= value;
    }

    public MembershipOptions Options => State.Options;

    /// <summary>
    /// The pool as routing reads it: immutable, replaced only when something in it changed (a status, an
    /// incarnation, a record, a record's expiry), never by probes and timers that change nothing.
    /// </summary>
    public MembershipSnapshot Snapshot => State.Snapshot;

    /// <summary>Starts probing and gossip, then joins through the seeds (retrying with backoff until one answers).</summary>
    public void Start(Action<SwimMembership> beforeJoin)
    {
        Post(() =>
        {
            State.Start();
            beforeJoin(State);
        });
        Join(FirstJoinRetry);
        _reconnectTimer = _time.CreateTimer(_ => Post(Reconnect), null, ReconnectInterval, ReconnectInterval);
    }

    /// <summary>Announces a graceful leave and gives it a few gossip rounds to spread (DESIGN.md section 7).</summary>
    public async Task LeaveAsync(CancellationToken cancellationToken)
    {
        Post(State.Leave);
        if (Read(state => state.Members.All(m => m.IsSelf || m.Status is not (MemberStatus.Alive or MemberStatus.Suspect))))
        {
            // Alone in the pool: nobody to tell.
            return;
        }

        try
        {
            await Task.Delay(State.Options.GossipInterval * 3, _time, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // The shutdown bound passed; the leave went out to the members told directly.
        }
    }

    /// <summary>New connections present the rotated certificate; a new alive update carries it to the pool.</summary>
    public void Rotate(X509Certificate2 rotated)
    {
        _transport.Reset();
        Post(() =>
        {
            _signer.Rotate(rotated);
            State.UpdateCertificate(rotated.RawData);
        });
    }

    /// <summary>Hands a peer's request to the state machine; completes with its reply.</summary>
    public Task<IMessage> ReceiveAsync(string sender, IMessage request)
    {
        var reply = new TaskCompletionSource<IMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            try
            {
                State.Receive(sender, request, response => reply.TrySetResult(response));
            }
            catch (MeshRefusedException ex)
            {
                LogRefused(_logger, Local.Pool, sender, ex.Message);
                reply.TrySetException(ex);
            }
        }

        return reply.Task;
    }

    /// <summary>Reads the membership state under its lock.</summary>
    public T Read<T>(Func<SwimMembership, T> read)
    {
        lock (_gate)
        {
            return read(State);
        }
    }

    /// <summary>Runs a step of the state machine under its lock; a refused or malformed step is logged, not thrown.</summary>
    public void Post(Action action)
    {
        lock (_gate)
        {
            try
            {
                action();
            }
            catch (Exception ex) when (ex is MeshRefusedException or InvalidProtocolBufferException or InvalidOperationException)
            {
                LogActionFailed(_logger, Local.Pool, ex.Message);
            }
        }
    }

    /// <summary>Runs a step with the state machine under its lock.</summary>
    public void Post(Action<SwimMembership> action) => Post(() => action(State));

    public void Dispose()
    {
        _joinTimer?.Dispose();
        _reconnectTimer?.Dispose();
        lock (_gate)
        {
            State.Stop();
        }
    }

    /// <summary>Tries the seeds until one answers, backing off to at most 30 s between rounds.</summary>
    private void Join(TimeSpan retry)
    {
        if (_seeds.Count == 0)
        {
            return;
        }

        Post(() =>
        {
            _joining = true;
            State.Join(_seeds, answered =>
            {
                if (answered > 0)
                {
                    _joining = false;
                    LogJoined(_logger, Local.Pool, answered, _seeds.Count);
                    return;
                }

                var next = retry * 2 > MaximumJoinRetry ? MaximumJoinRetry : retry * 2;
                LogJoinRetry(_logger, Local.Pool, _seeds.Count, retry.TotalSeconds);
                _joinTimer?.Dispose();
                _joinTimer = _time.CreateTimer(_ => Join(next), null, retry, Timeout.InfiniteTimeSpan);
            });
        });
    }

    /// <summary>
    /// Alone in the pool (every other member dead or reaped): join through the seeds again. Otherwise, with
    /// members declared dead but not yet reaped, try one of them: if it answers, the partition has healed
    /// and the exchange refutes the deaths on both sides.
    /// </summary>
    private void Reconnect()
    {
        if (_joining)
        {
            return;
        }

        var members = State.Members;
        if (!members.Any(m => !m.IsSelf && m.Status is MemberStatus.Alive or MemberStatus.Suspect))
        {
            if (_seeds.Count > 0)
            {
                State.Join(_seeds);
            }

            return;
        }

        var dead = members.Where(m => !m.IsSelf && m.Status == MemberStatus.Dead).ToList();
        if (dead.Count > 0)
        {
            State.Join([dead[(int)(_random() * dead.Count)].Address]);
        }
    }

    [LoggerMessage(EventId = 4002, Level = LogLevel.Information, Message = "Joined pool {Pool}: {Answered} of {Seeds} seed(s) answered")]
    private static partial void LogJoined(ILogger logger, string pool, int answered, int seeds);

    [LoggerMessage(EventId = 4003, Level = LogLevel.Warning, Message = "No seed of {Seeds} in pool {Pool} answered; retrying in {RetrySeconds}s")]
    private static partial void LogJoinRetry(ILogger logger, string pool, int seeds, double retrySeconds);

    [LoggerMessage(EventId = 4004, Level = LogLevel.Information, Message = "Pool {Pool}: member {Member} {Change} (incarnation {Incarnation})")]
    private static partial void LogMemberChange(ILogger logger, string pool, string member, string change, ulong incarnation);

    [LoggerMessage(EventId = 4005, Level = LogLevel.Warning, Message = "Pool {Pool}: refused a mesh message from {Sender}: {Reason}")]
    private static partial void LogRefused(ILogger logger, string pool, string sender, string reason);

    [LoggerMessage(EventId = 4007, Level = LogLevel.Warning, Message = "Pool {Pool}: refused a gossiped update: {Reason}")]
    private static partial void LogUpdateRejected(ILogger logger, string pool, string reason);

    [LoggerMessage(EventId = 4006, Level = LogLevel.Warning, Message = "Pool {Pool}: membership step failed: {Reason}")]
    private static partial void LogActionFailed(ILogger logger, string pool, string reason);
}
