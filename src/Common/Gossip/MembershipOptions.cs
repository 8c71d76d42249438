namespace LlmRouter.Common.Gossip;

/// <summary>
/// SWIM and Lifeguard settings, named and defaulted as in HashiCorp memberlist (DefaultLANConfig,
/// DefaultWANConfig, DefaultLocalConfig), which Consul and Serf run in production.
/// </summary>
public sealed record MembershipOptions
{
    /// <summary>Time between probes of one member (scaled up by the local health multiplier).</summary>
    public TimeSpan ProbeInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Time to wait for a direct ack before asking others to probe (scaled like the interval).</summary>
    public TimeSpan ProbeTimeout { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Members asked to probe indirectly when a direct probe fails (k).</summary>
    public int IndirectChecks { get; init; } = 3;

    /// <summary>Suspicion timeout = this x max(1, log10(N)) x probe interval (Lifeguard's minimum).</summary>
    public int SuspicionMultiplier { get; init; } = 4;

    /// <summary>Lifeguard's maximum suspicion timeout, as a multiple of the minimum.</summary>
    public int SuspicionMaxTimeoutMultiplier { get; init; } = 6;

    /// <summary>Time between gossip rounds.</summary>
    public TimeSpan GossipInterval { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Members each gossip round sends to.</summary>
    public int GossipFanout { get; init; } = 3;

    /// <summary>Each update is sent this x ceil(log10(N+1)) times.</summary>
    public int RetransmitMultiplier { get; init; } = 4;

    /// <summary>Time between full state exchanges with one random member (anti-entropy).</summary>
    public TimeSpan PushPullInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long dead and left members are still gossiped to and listed before they are reaped.</summary>
    public TimeSpan GossipToTheDeadTime { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Lifeguard's local health multiplier ranges 0..this-1: a slow member probes less often.</summary>
    public int AwarenessMaxMultiplier { get; init; } = 8;

    /// <summary>Bytes of updates piggybacked on one message (memberlist's UDP budget).</summary>
    public int MaxPiggybackBytes { get; init; } = 1400;

    /// <summary>Time to live of a load record; a stale record reads as unknown load.</summary>
    public TimeSpan LoadRecordTimeToLive { get; init; } = TimeSpan.FromSeconds(5);

    public static MembershipOptions Lan { get; } = new();

    public static MembershipOptions Wan { get; } = new()
    {
        ProbeInterval = TimeSpan.FromSeconds(5),
        ProbeTimeout = TimeSpan.FromSeconds(3),
        SuspicionMultiplier = 6,
        GossipInterval = TimeSpan.FromMilliseconds(500),
        GossipFanout = 4,
        PushPullInterval = TimeSpan.FromSeconds(60),
        GossipToTheDeadTime = TimeSpan.FromSeconds(60),
        LoadRecordTimeToLive = TimeSpan.FromSeconds(15),
    };

    public static MembershipOptions Local { get; } = new()
    {
        ProbeTimeout = TimeSpan.FromMilliseconds(200),
        IndirectChecks = 1,
        SuspicionMultiplier = 3,
        GossipInterval = TimeSpan.FromMilliseconds(100),
        RetransmitMultiplier = 2,
        PushPullInterval = TimeSpan.FromSeconds(15),
        GossipToTheDeadTime = TimeSpan.FromSeconds(15),
    };

    /// <summary>The preset named in configuration: lan, wan or local.</summary>
    public static MembershipOptions? Preset(string name) => name switch
    {
        "lan" => Lan,
        "wan" => Wan,
        "local" => Local,
        _ => null,
    };

    /// <summary>How often one update is sent: mult x ceil(log10(N+1)).</summary>
    public int RetransmitLimit(int members) => RetransmitMultiplier * (int)Math.Ceiling(Math.Log10(members + 1));

    /// <summary>Lifeguard's minimum suspicion timeout for a pool of N members.</summary>
    public TimeSpan SuspicionMinimum(int members) =>
        ProbeInterval * (SuspicionMultiplier * Math.Max(1, Math.Log10(Math.Max(1, members))));
}
