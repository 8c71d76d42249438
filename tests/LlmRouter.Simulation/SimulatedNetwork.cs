using Google.Protobuf;
using LlmRouter.Common.Gossip;
using LlmRouter.V1;

namespace LlmRouter.Simulation;

/// <summary>
/// N members in one process on virtual time, over an in-memory network with latency, message loss,
/// partitions, crashes and stalls (a stalled member is frozen like a SIGSTOPped process: messages to it
/// wait, its timers wait, and it catches up when it resumes). Deterministic for a given seed.
/// </summary>
public sealed class SimulatedNetwork
{
    private readonly Dictionary<string, SimulatedMember> _byId = new(StringComparer.Ordinal);
    private readonly Dictionary<string, SimulatedMember> _byAddress = new(StringComparer.Ordinal);
    private readonly HashSet<(string, string)> _cut = [];

    public SimulatedNetwork(int seed, MembershipOptions options, string mesh = "sim", string pool = "pool")
    {
        Random = new Random(seed);
        Options = options;
        Mesh = mesh;
        Pool = pool;
    }

    public VirtualClock Clock { get; } = new();

    public Random Random { get; }

    public MembershipOptions Options { get; }

    public string Mesh { get; }

    public string Pool { get; }

    /// <summary>Share of messages (requests and replies alike) silently dropped.</summary>
    public double LossRate { get; set; }

    public TimeSpan MinimumLatency { get; set; } = TimeSpan.FromMilliseconds(1);

    public TimeSpan MaximumLatency { get; set; } = TimeSpan.FromMilliseconds(5);

    public IReadOnlyCollection<SimulatedMember> Members => _byId.Values;

    public SimulatedMember this[string id] => _byId[id];

    public long BytesDelivered { get; private set; }

    /// <summary>The part of <see cref="BytesDelivered"/> spent on full state exchanges (push-pull and join).</summary>
    public long PushPullBytes { get; private set; }

    /// <summary>Adds a member (not yet started). Reusing an id replaces a crashed member: a restart.</summary>
    /// <param name="certificate">The member's certificate (DER) for its alive updates, when <paramref name="signer"/> checks real ones.</param>
    /// <param name="firstRecordNumber">Where its record numbers start; by default the virtual time in milliseconds, as a
    /// process's start time on the wall clock (a smaller one is a restart after the clock went back).</param>
    public SimulatedMember Add(string id, IUpdateSigner? signer = null, MemberRole role = MemberRole.Node, ReadOnlyMemory<byte> certificate = default, ulong? firstRecordNumber = null)
    {
        var address = $"sim://{id}";
        var member = new SimulatedMember(this, id, address, signer ?? new InsecureSigner(id), role: role, certificate: certificate, firstRecordNumber: firstRecordNumber);
        _byId[id] = member;
        _byAddress[address] = member;
        return member;
    }

    /// <summary>Adds and starts <paramref name="count"/> members, all joining through the first.</summary>
    public List<SimulatedMember> AddPool(int count, string prefix = "m")
    {
        var members = Enumerable.Range(0, count).Select(i => Add($"{prefix}{i}")).ToList();
        foreach (var member in members)
        {
            member.Start();
            if (member != members[0])
            {
                member.Membership.Join([members[0].Address]);
            }
        }

        return members;
    }

    public void Partition(IEnumerable<string> sideA, IEnumerable<string> sideB)
    {
        foreach (var a in sideA)
        {
            foreach (var b in sideB)
            {
                _cut.Add((a, b));
                _cut.Add((b, a));
            }
        }
    }

    public void Heal() => _cut.Clear();

    internal void Send(SimulatedMember from, MemberAddress target, IMessage request, TimeSpan timeout, Action<IMessage?> onReply)
    {
        var completed = false;
        void Complete(IMessage? reply)
        {
            if (!completed && !from.Crashed)
            {
                completed = true;
                from.Run(() => onReply(reply));
            }
        }

        Clock.Schedule(timeout, () => Complete(null));
        var receiver = target.Id.Length > 0 && _byId.TryGetValue(target.Id, out var byId) ? byId : _byAddress.GetValueOrDefault(target.Address);
        if (receiver is null || !Deliverable(from, receiver))
        {
            return;
        }

        var copy = Copy(request);
        Clock.Schedule(Latency(), () => receiver.Run(() =>
        {
            try
            {
                receiver.Membership.Receive(from.Id, copy, reply =>
                {
                    if (Deliverable(receiver, from))
                    {
                        var replyCopy = Copy(reply);
                        Clock.Schedule(Latency(), () => Complete(replyCopy));
                    }
                });
            }
            catch (MeshRefusedException)
            {
                // Refused messages get no reply; the sender times out, as with PERMISSION_DENIED.
            }
        }));
    }

    private bool Deliverable(SimulatedMember from, SimulatedMember to) =>
        !to.Crashed && !_cut.Contains((from.Id, to.Id)) && Random.NextDouble() >= LossRate;

    private TimeSpan Latency() => MinimumLatency + ((MaximumLatency - MinimumLatency) * Random.NextDouble());

    private IMessage Copy(IMessage message)
    {
        var bytes = message.ToByteArray();
        BytesDelivered += bytes.Length;
        if (message is PushPullRequest or PushPullResponse or JoinRequest or JoinResponse)
        {
            PushPullBytes += bytes.Length;
        }

        return message.Descriptor.Parser.ParseFrom(bytes);
    }
}

/// <summary>One simulated member: its membership state machine, scheduler and transport.</summary>
public sealed class SimulatedMember : IMeshTransport, IMeshScheduler
{
    private readonly SimulatedNetwork _network;
    private readonly List<Action> _frozen = [];
    private TimeSpan? _stalledUntil;

    public SimulatedMember(
        SimulatedNetwork network, string id, string address, IUpdateSigner signer, ulong incarnation = 0, MemberRole role = MemberRole.Node, ReadOnlyMemory<byte> certificate = default,
        ulong? firstRecordNumber = null)
    {
        _network = network;
        Id = id;
        Address = address;
        Membership = new SwimMembership(
            new LocalMember(id, address, network.Pool, role, certificate),
            network.Mesh,
            network.Options,
            this,
            this,
            signer,
            new Random(network.Random.Next()),
            incarnation,
            // Virtual time stands for the wall clock a restarted process numbers its records from.
            firstRecordNumber ?? (ulong)network.Clock.Now.TotalMilliseconds);
    }

    public string Id { get; }

    public string Address { get; }

    public SwimMembership Membership { get; }

    public bool Crashed { get; private set; }

    public bool Stalled => _stalledUntil is { } until && until > _network.Clock.Now;

    public TimeSpan Now => _network.Clock.Now;

    public void Start() => Membership.Start();

    /// <summary>Stops at once, as kill -9 does: no leave, no more messages or timers.</summary>
    public void Crash()
    {
        Crashed = true;
        Membership.Stop();
    }

    /// <summary>Freezes for a while, as SIGSTOP then SIGCONT: then catches up on everything that waited.</summary>
    public void Stall(TimeSpan duration)
    {
        _stalledUntil = Now + duration;
        _network.Clock.Schedule(duration, () =>
        {
            _stalledUntil = null;
            var backlog = _frozen.ToList();
            _frozen.Clear();
            foreach (var action in backlog)
            {
                Run(action);
            }
        });
    }

    public MemberStatus StatusOf(string id) => Membership.Find(id)?.Status ?? MemberStatus.Unspecified;

    public void Send(MemberAddress target, IMessage request, TimeSpan timeout, Action<IMessage?> onReply) =>
        _network.Send(this, target, request, timeout, onReply);

    /// <summary>
    /// Sends updates this member signed itself straight to another member in a gossip message, outside its
    /// state machine: how a lying member (one with a valid identity) speaks in tests.
    /// </summary>
    public void Gossip(SimulatedMember to, params SignedUpdate[] updates)
    {
        var request = new GossipRequest { Header = new MeshHeader { Mesh = _network.Mesh, Pool = _network.Pool, Sender = Id } };
        request.Header.Updates.Add(updates);
        Send(new MemberAddress(to.Id, to.Address), request, TimeSpan.FromSeconds(1), _ => { });
    }

    public IDisposable Schedule(TimeSpan delay, Action action) => _network.Clock.Schedule(delay, () => Run(action));

    internal void Run(Action action)
    {
        if (Crashed)
        {
            return;
        }

        if (Stalled)
        {
            _frozen.Add(action);
            return;
        }

        action();
    }
}
