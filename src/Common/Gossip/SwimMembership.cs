using Google.Protobuf;
using LlmRouter.V1;

namespace LlmRouter.Common.Gossip;

/// <summary>Who this member is; <paramref name="Certificate"/> (DER) rides in its alive updates so others can verify it.</summary>
public sealed record LocalMember(string Id, string Address, string Pool, MemberRole Role, ReadOnlyMemory<byte> Certificate = default);

/// <summary>
/// SWIM membership with Lifeguard, after HashiCorp memberlist's semantics (DESIGN.md section 4): shuffled
/// round-robin probes with indirect probes through k members, suspicion with incarnations and refutation
/// by the subject, Lifeguard's dynamic suspicion timeout and local health multiplier, piggybacked
/// dissemination with bounded retransmits, periodic push-pull, leave as an intent, and reaping.
/// </summary>
/// <remarks>
/// A single-threaded state machine: the caller serialises every call (incoming messages, replies and
/// timer callbacks). It never blocks; it sends through <see cref="IMeshTransport"/> and keeps time through
/// <see cref="IMeshScheduler"/>, so the same code runs in a node and in the deterministic simulator.
/// </remarks>
public sealed partial class SwimMembership
{
    private readonly LocalMember _local;
    private readonly string _mesh;
    private readonly MembershipOptions _options;
    private readonly IMeshTransport _transport;
    private readonly IMeshScheduler _scheduler;
    private readonly IUpdateSigner _signer;
    private readonly Random _random;
    private readonly Dictionary<string, MemberEntry> _members = new(StringComparer.Ordinal);
    private readonly TransmitQueue _queue = new();
    private readonly Awareness _awareness;
    private readonly List<IDisposable> _timers = [];
    private readonly MemberEntry _self;
    private ReadOnlyMemory<byte> _certificate;
    // This life's record numbers (models, routes, load, usage) count on from the moment it started, not from 0: a peer
    // that never saw the previous life die (it suspected it, then met the new life's higher incarnation) still holds
    // that life's records, and takes only a higher number. Numbered from 0, a restarted integrator's routes were refused
    // until its old records' count was passed, and its models for as long as they did not change that often. Where the
    // clock cannot be trusted (it went back across a restart), an earlier life's record that comes back to this member
    // moves its numbers past it (OutnumbersThisLife).
    private ulong _modelVersion;
    private ulong _routeVersion;
    private ulong _loadSequence;
    private ulong _usageSequence;
    private object? _ownKey;
    private bool _running;
    private bool _leaving;
    private TimeSpan? _lastCatchUp;

    // The routing snapshot: rebuilt at the end of a step that changed something a reader can see, or once
    // a load or route record in it has outlived its time to live.
    private volatile MembershipSnapshot _snapshot = MembershipSnapshot.Empty;
    private bool _visibleChange = true;
    private TimeSpan _snapshotExpires = TimeSpan.MaxValue;

    /// <param name="firstRecordNumber">Where this life's record numbers start: the wall clock at its start in milliseconds
    /// (a node publishes far fewer than a thousand records of a kind a second, so each life starts past the last).</param>
    public SwimMembership(
        LocalMember local,
        string mesh,
        MembershipOptions options,
        IMeshTransport transport,
        IMeshScheduler scheduler,
        IUpdateSigner signer,
        Random random,
        ulong initialIncarnation = 0,
        ulong firstRecordNumber = 0)
    {
        _local = local;
        _mesh = mesh;
        _options = options;
        _transport = transport;
        _scheduler = scheduler;
        _signer = signer;
        _random = random;
        _awareness = new Awareness(options.AwarenessMaxMultiplier);
        _modelVersion = _routeVersion = _loadSequence = _usageSequence = firstRecordNumber;
        _certificate = local.Certificate;
        _self = new MemberEntry(local.Id)
        {
            Address = local.Address,
            Pool = local.Pool,
            Role = local.Role,
            Incarnation = initialIncarnation,
            StatusChanged = scheduler.Now,
        };
        _self.Alive = SignAlive();
        _members[local.Id] = _self;
    }

    /// <summary>Raised on every change of another member's status and on model changes.</summary>
    public event Action<MemberEvent>? Changed;

    /// <summary>
    /// Raised for every usage record that is news (verified, within the record rules), with its signer's role: the
    /// host's usage ledger takes it (DESIGN.md section 13). Usage is not routing state: it is not in the snapshot.
    /// </summary>
    public event Action<UsageRecord, MemberRole>? UsageReceived;

    /// <summary>A member's route log checkpoint arrived (later than the last of that member): the host keeps it (DESIGN.md section 15).</summary>
    public event Action<RouteLogCheckpoint>? CheckpointReceived;

    /// <summary>Raised when an update is refused (bad signature, foreign certificate, forged origin), with the reason.</summary>
    public event Action<string>? Rejected;

    public string Id => _local.Id;

    public ulong Incarnation => _self.Incarnation;

    /// <summary>Lifeguard's local health score: 0 is healthy, higher means this member probes less often.</summary>
    public int LocalHealth => _awareness.Score;

    public MembershipOptions Options => _options;

    /// <summary>The state machine's clock (for ages in the Admin API).</summary>
    public TimeSpan Now => _scheduler.Now;

    public MembershipStatistics Statistics { get; } = new();

    /// <summary>Members in this pool, alive or not (not yet reaped), this member included.</summary>
    public int Count => _members.Count;

    /// <summary>Every member as this one sees it now, read on the state machine's executor (the Admin API, tests).</summary>
    public IReadOnlyList<MemberView> Members => _members.Values.Select(View).ToList();

    /// <summary>
    /// The pool as of the end of the last step, for routing: immutable, and replaced only when something in it
    /// changed. Safe to read from any thread.
    /// </summary>
    public MembershipSnapshot Snapshot => _snapshot;

    public MemberView? Find(string id) => _members.TryGetValue(id, out var entry) ? View(entry) : null;

    /// <summary>When a message last arrived from the member directly (scheduler time), if ever.</summary>
    public TimeSpan? LastHeard(string id) => _members.TryGetValue(id, out var entry) ? entry.LastHeard : null;

    /// <summary>Starts probing, gossiping, push-pull and reaping, each on its own staggered tick.</summary>
    public void Start()
    {
        if (_running)
        {
            return;
        }

        _running = true;
        _queue.Enqueue(Key(_self.Id), _self.Alive!);
        Every(_options.ProbeInterval, ProbeTick, scaled: true);
        Every(_options.GossipInterval, GossipTick, scaled: false);
        Every(_options.PushPullInterval, PushPullTick, scaled: false);
        Every(_options.ProbeInterval, Reap, scaled: false);
        EndStep();
    }

    /// <summary>Stops every timer; the member goes silent (as a crash would look to others).</summary>
    public void Stop()
    {
        _running = false;
        foreach (var timer in _timers)
        {
            timer.Dispose();
        }

        _timers.Clear();
        foreach (var entry in _members.Values)
        {
            entry.EndSuspicion();
        }

        foreach (var probe in _probes.Values)
        {
            probe.Cancel();
        }

        _probes.Clear();
    }

    /// <summary>Joins through seed members: a full state exchange with each reachable seed.</summary>
    public void Join(IEnumerable<string> seedAddresses, Action<int>? joined = null)
    {
        var seeds = seedAddresses.Where(a => !string.Equals(a, _local.Address, StringComparison.Ordinal)).ToList();
        var answered = 0;
        var pending = seeds.Count;
        if (pending == 0)
        {
            joined?.Invoke(0);
            return;
        }

        foreach (var seed in seeds)
        {
            var request = new JoinRequest { Header = Header(withUpdates: false) };
            request.Members.Add(LocalStates());
            Send(new MemberAddress("", seed), request, _options.ProbeInterval * 5, reply =>
            {
                if (reply is JoinResponse response)
                {
                    answered++;
                    AcceptHeader(response.Header, expectedSender: null);
                    Merge(response.Members);
                }

                if (--pending == 0)
                {
                    joined?.Invoke(answered);
                }
            });
        }
    }

    /// <summary>
    /// Leaves on purpose: announces the intent (a dead update about itself, which others record as left)
    /// to a few members directly and through gossip. Keep running for a few gossip intervals after this.
    /// </summary>
    public void Leave()
    {
        _leaving = true;
        var dead = _signer.Sign(new Update { Dead = new Dead { Member = _self.Id, Incarnation = _self.Incarnation, From = _self.Id } });
        _self.Status = MemberStatus.Left;
        _self.StatusUpdate = dead;
        _self.StatusChanged = _scheduler.Now;
        _visibleChange = true;
        _queue.Enqueue(Key(_self.Id), dead);
        foreach (var member in PickRandom(_options.GossipFanout, e => !e.IsDown))
        {
            var request = new LeaveRequest { Header = Header(withUpdates: false) };
            request.Header.Updates.Add(dead);
            Send(new MemberAddress(member.Id, member.Address), request, _options.ProbeTimeout * 2, _ => { });
        }

        EndStep();
    }

    /// <summary>
    /// Announces a rotated certificate: a new alive update (higher incarnation) carries it, so members
    /// verify this member's later updates with the new key. The signer must already sign with it.
    /// </summary>
    public void UpdateCertificate(ReadOnlyMemory<byte> certificate)
    {
        _certificate = certificate;
        _ownKey = null;
        Refute(_self.Incarnation);
        EndStep();
    }

    /// <summary>Announces this member's models (versioned; sent reliably through gossip and push-pull).</summary>
    public void PublishModels(IEnumerable<ModelInfo> models)
    {
        AnnounceModels(models);
        EndStep();
    }

    private void AnnounceModels(IEnumerable<ModelInfo> models)
    {
        var record = new ModelRecord { Member = _self.Id, Version = ++_modelVersion };
        record.Models.Add(models);
        EnsureValid(RecordRules.Models(record, _self.Id, _self.Pool));
        var signed = _signer.Sign(new Update { Models = record });
        _self.Models = record;
        _self.SignedModels = signed;
        _visibleChange = true;
        _queue.Enqueue(ModelsKey(_self.Id), signed);
    }

    /// <summary>
    /// Announces the routes behind this integrator (versioned, with a time to live). A new version without
    /// a route withdraws it; a record that is not renewed expires. Only integrators may advertise routes.
    /// </summary>
    public void PublishRoutes(IEnumerable<ModelRoute> routes, TimeSpan timeToLive)
    {
        if (_local.Role != MemberRole.Integrator)
        {
            throw new InvalidOperationException("only an integrator advertises routes");
        }

        AnnounceRoutes(routes, timeToLive);
        EndStep();
    }

    private void AnnounceRoutes(IEnumerable<ModelRoute> routes, TimeSpan timeToLive)
    {
        var record = new RouteRecord { Member = _self.Id, Version = ++_routeVersion, TtlMs = (uint)timeToLive.TotalMilliseconds };
        record.Routes.Add(routes);
        EnsureValid(RecordRules.Routes(record, _self.Id, _self.Pool));
        var signed = _signer.Sign(new Update { Routes = record });
        _self.Routes = record;
        _self.SignedRoutes = signed;
        _self.RoutesReceived = _scheduler.Now;
        _visibleChange = true;
        _queue.Enqueue(RoutesKey(_self.Id), signed);
    }

    /// <summary>Announces this member's load (small, frequent, with a time to live).</summary>
    public void PublishLoad(IEnumerable<BackendLoad> backends, DateTimeOffset issuedAt)
    {
        var record = new LoadRecord
        {
            Member = _self.Id,
            Sequence = ++_loadSequence,
            IssuedAt = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(issuedAt),
            TtlMs = (uint)_options.LoadRecordTimeToLive.TotalMilliseconds,
        };
        record.Backends.Add(backends);
        EnsureValid(RecordRules.Load(record, _self.Id));
        _self.Load = record;
        _self.LoadReceived = _scheduler.Now;
        _visibleChange = true;
        _queue.Enqueue(LoadKey(_self.Id), _signer.Sign(new Update { Load = record }));
        EndStep();
    }

    /// <summary>Announces this member's latest route log checkpoint; a later one replaces it in the queue.</summary>
    public void PublishCheckpoint(RouteLogCheckpoint checkpoint)
    {
        checkpoint.Member = _self.Id;
        EnsureValid(RecordRules.Checkpoint(checkpoint, _self.Id));
        _queue.Enqueue(CheckpointKey(_self.Id), _signer.Sign(new Update { Checkpoint = checkpoint }));
        EndStep();
    }

    /// <summary>
    /// Announces a usage slot: this member's own (no origin) or, from an integrator, one it relays from beyond a
    /// border. Sent through gossip only; a newer record of the same origin replaces an older one in the queue, and
    /// the host republishes now and then, so a member that joined later hears it too.
    /// </summary>
    public void PublishUsage(UsageRecord record)
    {
        record.Member = _self.Id;
        record.Sequence = ++_usageSequence;
        EnsureValid(RecordRules.Usage(record, _self.Id, _self.Role));
        _queue.Enqueue(UsageKey(_self.Id, record.Origin), _signer.Sign(new Update { Usage = record }));
        EndStep();
    }

    /// <summary>
    /// Handles a request from another member. <paramref name="sender"/> is the identity the transport
    /// authenticated (the certificate's member id), or null in the simulator. The response goes to
    /// <paramref name="reply"/>, at once or after an indirect probe.
    /// </summary>
    public void Receive(string? sender, IMessage request, Action<IMessage> reply)
    {
        Statistics.MessagesReceived++;
        Statistics.BytesReceived += request.CalculateSize();
        try
        {
            Dispatch(sender, request, response =>
            {
                Statistics.MessagesSent++;
                Statistics.BytesSent += response.CalculateSize();
                reply(response);
            });
        }
        finally
        {
            EndStep();
        }
    }

    private void Dispatch(string? sender, IMessage request, Action<IMessage> reply)
    {
        switch (request)
        {
            case PingRequest ping:
                AcceptHeader(ping.Header, sender);
                if (!string.Equals(ping.Target, _self.Id, StringComparison.Ordinal))
                {
                    throw new MeshRefusedException($"a probe for '{ping.Target}' reached '{_self.Id}'");
                }

                reply(new PingResponse { Header = Header(withUpdates: true), Sequence = ping.Sequence });
                break;
            case IndirectPingRequest indirect:
                AcceptHeader(indirect.Header, sender);
                ProbeFor(indirect, reply);
                break;
            case GossipRequest gossip:
                AcceptHeader(gossip.Header, sender);
                reply(new GossipResponse { Header = Header(withUpdates: false) });
                break;
            case PushPullRequest pushPull:
                Statistics.PushPulls++;
                AcceptHeader(pushPull.Header, sender);
                Merge(pushPull.Members);
                reply(Compare(pushPull.Digests));
                break;
            case JoinRequest join:
                AcceptHeader(join.Header, sender);
                Merge(join.Members);
                reply(WithStates(new JoinResponse { Header = Header(withUpdates: false) }));
                break;
            case LeaveRequest leave:
                AcceptHeader(leave.Header, sender);
                reply(new LeaveResponse { Header = Header(withUpdates: false) });
                break;
            default:
                throw new MeshRefusedException($"unknown message {request.Descriptor.FullName}");
        }
    }

    private JoinResponse WithStates(JoinResponse response)
    {
        response.Members.Add(LocalStates());
        return response;
    }

    private static string Key(string member) => "member:" + member;

    private static string ModelsKey(string member) => "models:" + member;

    private static string LoadKey(string member) => "load:" + member;

    private static string RoutesKey(string member) => "routes:" + member;

    private static string UsageKey(string member, string origin) => "usage:" + member + ":" + origin;

    private static string CheckpointKey(string member) => "checkpoint:" + member;

    private int RetransmitLimit => _options.RetransmitLimit(_members.Count);

    private MeshHeader Header(bool withUpdates)
    {
        var header = new MeshHeader { Mesh = _mesh, Pool = _local.Pool, Sender = _self.Id };
        if (withUpdates)
        {
            header.Updates.Add(_queue.Take(_options.MaxPiggybackBytes, RetransmitLimit));
        }

        return header;
    }

    /// <summary>Checks the labels and the sender of a message, then applies its piggybacked updates.</summary>
    private void AcceptHeader(MeshHeader header, string? expectedSender)
    {
        if (!string.Equals(header.Mesh, _mesh, StringComparison.Ordinal) || !string.Equals(header.Pool, _local.Pool, StringComparison.Ordinal))
        {
            throw new MeshRefusedException($"message for mesh '{header.Mesh}' pool '{header.Pool}' refused by mesh '{_mesh}' pool '{_local.Pool}'");
        }

        if (expectedSender is not null && !string.Equals(header.Sender, expectedSender, StringComparison.Ordinal))
        {
            throw new MeshRefusedException($"member '{expectedSender}' sent a message as '{header.Sender}'");
        }

        if (_members.TryGetValue(header.Sender, out var sender) && sender != _self)
        {
            sender.LastHeard = _scheduler.Now;
        }

        foreach (var update in header.Updates)
        {
            Apply(update);
        }
    }

    private void Send(MemberAddress target, IMessage request, TimeSpan timeout, Action<IMessage?> onReply)
    {
        Statistics.MessagesSent++;
        Statistics.BytesSent += request.CalculateSize();
        _transport.Send(target, request, timeout, reply =>
        {
            if (reply is not null)
            {
                Statistics.MessagesReceived++;
                Statistics.BytesReceived += reply.CalculateSize();
            }

            onReply(reply);
            EndStep();
        });
    }

    /// <summary>Runs an action after a delay as one step of the state machine (its snapshot refreshed after it).</summary>
    private IDisposable Schedule(TimeSpan delay, Action action) => _scheduler.Schedule(delay, () =>
    {
        action();
        EndStep();
    });

    /// <summary>
    /// Ends a step (a message, a reply, a timer or a local call): publishes a new snapshot when something a
    /// reader can see changed, or when a load or route record in the last one has outlived its time to live.
    /// </summary>
    private void EndStep()
    {
        if (!_visibleChange && _scheduler.Now <= _snapshotExpires)
        {
            return;
        }

        _visibleChange = false;
        var expires = TimeSpan.MaxValue;
        var views = new List<MemberView>(_members.Count);
        foreach (var entry in _members.Values)
        {
            var view = View(entry);
            views.Add(view);
            if (view.Load is { } load)
            {
                expires = Min(expires, entry.LoadReceived + TimeSpan.FromMilliseconds(load.TtlMs));
            }

            if (view.Routes is { } routes)
            {
                expires = Min(expires, entry.RoutesReceived + TimeSpan.FromMilliseconds(routes.TtlMs));
            }
        }

        _snapshotExpires = expires;
        _snapshot = new MembershipSnapshot(_snapshot.Version + 1, views);
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    /// <summary>This member's own record breaks the rules every receiver applies: a fault here, not news to spread.</summary>
    private static void EnsureValid(string? problem)
    {
        if (problem is not null)
        {
            throw new InvalidOperationException(problem);
        }
    }

    private void Every(TimeSpan interval, Action tick, bool scaled)
    {
        // A random first delay staggers members that start together, as memberlist does.
        var first = interval * _random.NextDouble();
        Arm(first);

        void Arm(TimeSpan delay)
        {
            IDisposable? handle = null;
            handle = Schedule(delay, () =>
            {
                _timers.Remove(handle!);
                if (!_running)
                {
                    return;
                }

                Arm(scaled ? _awareness.Scale(interval) : interval);
                tick();
            });
            _timers.Add(handle);
        }
    }

    private IEnumerable<MemberEntry> PickRandom(int count, Func<MemberEntry, bool> eligible)
    {
        var candidates = _members.Values.Where(e => e != _self && eligible(e)).ToList();
        for (var i = 0; i < count && candidates.Count > 0; i++)
        {
            var index = _random.Next(candidates.Count);
            yield return candidates[index];
            candidates[index] = candidates[^1];
            candidates.RemoveAt(candidates.Count - 1);
        }
    }

    private MemberView View(MemberEntry entry)
    {
        var load = entry.Load is { } record && _scheduler.Now - entry.LoadReceived <= TimeSpan.FromMilliseconds(record.TtlMs) ? record : null;
        var routes = entry.Routes is { } advertised && _scheduler.Now - entry.RoutesReceived <= TimeSpan.FromMilliseconds(advertised.TtlMs) ? advertised : null;
        return new MemberView(entry.Id, entry.Address, entry.Pool, entry.Role, entry.Incarnation, entry.Status,
            entry.StatusChanged, entry.Models, load, entry == _self) { Routes = routes };
    }

    private void Raise(MemberEventKind kind, MemberEntry entry)
    {
        _visibleChange = true;
        Changed?.Invoke(new MemberEvent(kind, View(entry), _scheduler.Now));
    }
}
