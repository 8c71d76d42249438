using LlmRouter.V1;

namespace LlmRouter.Common.Gossip;

/// <summary>What one member knows about another (or itself): mutable, owned by <see cref="SwimMembership"/>.</summary>
internal sealed class MemberEntry(string id)
{
    public string Id { get; } = id;

    public string Address { get; set; } = "";

    public string Pool { get; set; } = "";

    public MemberRole Role { get; set; }

    public ulong Incarnation { get; set; }

    public MemberStatus Status { get; set; } = MemberStatus.Alive;

    /// <summary>When <see cref="Status"/> last changed (scheduler time).</summary>
    public TimeSpan StatusChanged { get; set; }

    /// <summary>When a message last arrived from this member directly (scheduler time), if ever.</summary>
    public TimeSpan? LastHeard { get; set; }

    /// <summary>The member's own latest signed alive update.</summary>
    public SignedUpdate? Alive { get; set; }

    /// <summary>The signed suspect or dead update behind a non-alive status.</summary>
    public SignedUpdate? StatusUpdate { get; set; }

    /// <summary>Verifies the member's signatures (from its certificate).</summary>
    public object? Key { get; set; }

    public Suspicion? Suspicion { get; set; }

    public IDisposable? SuspicionTimer { get; set; }

    public SignedUpdate? SignedModels { get; set; }

    public ModelRecord? Models { get; set; }

    public LoadRecord? Load { get; set; }

    /// <summary>An integrator's routes: the models reachable through it (DESIGN.md section 5).</summary>
    public RouteRecord? Routes { get; set; }

    public SignedUpdate? SignedRoutes { get; set; }

    /// <summary>When the route record arrived (scheduler time): valid for its time to live from then.</summary>
    public TimeSpan RoutesReceived { get; set; }

    /// <summary>When the load record arrived (scheduler time): it is fresh for its time to live from then.</summary>
    public TimeSpan LoadReceived { get; set; }

    /// <summary>The time (Unix milliseconds) of the last route log checkpoint heard of the member, so only a later one is news.</summary>
    public long CheckpointTime { get; set; }

    /// <summary>The last usage record's sequence per origin ("" for the member's own slot), so only news is taken.</summary>
    public Dictionary<string, ulong> UsageSequences { get; } = new(StringComparer.Ordinal);

    public bool IsDown => Status is MemberStatus.Dead or MemberStatus.Left;

    public void EndSuspicion()
    {
        SuspicionTimer?.Dispose();
        SuspicionTimer = null;
        Suspicion = null;
    }
}

/// <summary>
/// A member as others see it, for routing, the Admin API and tests: only what changes with its state and
/// records, never with the traffic (when a member was last heard from is asked of the membership itself),
/// so a snapshot of views stays valid until something a reader can see has changed.
/// </summary>
public sealed record MemberView(
    string Id,
    string Address,
    string Pool,
    MemberRole Role,
    ulong Incarnation,
    MemberStatus Status,
    TimeSpan StatusChanged,
    ModelRecord? Models,
    LoadRecord? Load,
    bool IsSelf)
{
    /// <summary>An integrator's fresh routes; null when none, or when the last record outlived its time to live (withdrawn).</summary>
    public RouteRecord? Routes { get; init; }
}

/// <summary>
/// The pool at one moment, as routing reads it: immutable, and replaced (with a higher version) only when
/// something a reader can see has changed: a member's status, incarnation, address or records, or a load
/// or route record outliving its time to live. Probes, acks and timers that change nothing keep it, so
/// caches keyed on it (the router's candidates) stay valid.
/// </summary>
public sealed class MembershipSnapshot(long version, IReadOnlyList<MemberView> members)
{
    public static MembershipSnapshot Empty { get; } = new(0, []);

    public long Version { get; } = version;

    public IReadOnlyList<MemberView> Members { get; } = members;
}

public enum MemberEventKind
{
    Joined,
    Alive,
    Suspected,
    Dead,
    Left,
    Reaped,
    ModelsChanged,
}

public sealed record MemberEvent(MemberEventKind Kind, MemberView Member, TimeSpan At);

/// <summary>
/// Counts of one member's membership, since it started: written on its state machine's executor only, read
/// from anywhere (the metrics, the Admin API, the simulator), where a count read a step late is no harm.
/// </summary>
public sealed class MembershipStatistics
{
    private readonly long[] _refused = new long[Enum.GetValues<RefusalReason>().Length];

    public long MessagesSent { get; internal set; }

    public long BytesSent { get; internal set; }

    public long MessagesReceived { get; internal set; }

    public long BytesReceived { get; internal set; }

    /// <summary>Push-pull exchanges, started here or answered here.</summary>
    public long PushPulls { get; internal set; }

    /// <summary>Times this member marked another suspect (its own probe, or news it accepted).</summary>
    public long Suspicions { get; internal set; }

    /// <summary>Times this member refuted news of its own suspicion or death.</summary>
    public long Refutations { get; internal set; }

    /// <summary>Times this member marked another dead (not counting members that left).</summary>
    public long Deaths { get; internal set; }

    public long UpdatesRejected { get; internal set; }

    /// <summary>Updates refused for <paramref name="reason"/>.</summary>
    public long RefusedFor(RefusalReason reason) => Volatile.Read(ref _refused[(int)reason]);

    internal void Refused(RefusalReason reason)
    {
        UpdatesRejected++;
        _refused[(int)reason]++;
    }

    /// <summary>Signatures checked: updates that were news (a stale or duplicate update is dropped before its signature is checked).</summary>
    public long SignaturesVerified { get; internal set; }

    public string? LastRejection { get; internal set; }
}

/// <summary>Why a gossiped update was refused: a few fixed kinds, so the count of each is a metric (the text goes to the log).</summary>
public enum RefusalReason
{
    /// <summary>It did not parse.</summary>
    Malformed,

    /// <summary>Signed by a member other than the one it speaks for.</summary>
    ForgedOrigin,

    /// <summary>Its signature does not verify against the signer's certificate.</summary>
    BadSignature,

    /// <summary>Another member claims this member's own identity.</summary>
    ImpersonatesSelf,

    /// <summary>A member of another pool (or mesh) announced in this one.</summary>
    ForeignPool,

    /// <summary>The certificate it carries is not one the mesh CA issued to that member.</summary>
    Certificate,

    /// <summary>An accusation (suspect, dead) at an incarnation the accused never signed.</summary>
    AccusationAhead,

    /// <summary>A record (models, load, routes) whose content breaks the record rules.</summary>
    RecordRules,

    /// <summary>This member's incarnation is at its maximum and cannot refute.</summary>
    CannotRefute,
}

/// <summary>A message from outside the pool or mesh, or from a member posing as another: refused.</summary>
public sealed class MeshRefusedException(string message) : Exception(message);
