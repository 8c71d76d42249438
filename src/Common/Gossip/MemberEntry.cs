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

    public bool IsDown => Status is MemberStatus.Dead or MemberStatus.Left;

    public void EndSuspicion()
    {
        SuspicionTimer?.Dispose();
        SuspicionTimer = null;
        Suspicion = null;
    }
}

/// <summary>A member as others see it, for the Admin API, routing and tests.</summary>
public sealed record MemberView(
    string Id,
    string Address,
    string Pool,
    MemberRole Role,
    ulong Incarnation,
    MemberStatus Status,
    TimeSpan StatusChanged,
    TimeSpan? LastHeard,
    ModelRecord? Models,
    LoadRecord? Load,
    bool IsSelf)
{
    /// <summary>An integrator's fresh routes; null when none, or when the last record outlived its time to live (withdrawn).</summary>
    public RouteRecord? Routes { get; init; }
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

/// <summary>Counters for the benchmark and the Admin API.</summary>
public sealed class MembershipStatistics
{
    public long MessagesSent { get; internal set; }

    public long BytesSent { get; internal set; }

    public long UpdatesRejected { get; internal set; }

    public string? LastRejection { get; internal set; }
}

/// <summary>A message from outside the pool or mesh, or from a member posing as another: refused.</summary>
public sealed class MeshRefusedException(string message) : Exception(message);
