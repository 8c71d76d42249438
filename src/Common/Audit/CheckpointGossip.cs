using Google.Protobuf;
using LlmRouter.Common.Membership;
using LlmRouter.Common.Pipeline;
using LlmRouter.V1;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace LlmRouter.Common.Audit;

/// <summary>
/// Spreads route log checkpoints through the mesh (DESIGN.md section 15): each checkpoint this host signs is
/// announced in every pool it sits in, and the latest is announced again at each interval so members that joined
/// later hear it. Every checkpoint a peer announces is kept in this host's log directory
/// (<c>peers/MEMBER.jsonl</c>, <see cref="PeerCheckpoints"/>). A member cannot then rewrite or cut its history
/// without its peers holding its own signed proof of what the history was.
/// </summary>
internal sealed partial class CheckpointGossip(
    IRouterHost host, RouteLog log, SeatMemberships memberships, Telemetry.RouterMetrics metrics, ILogger<CheckpointGossip> logger, TimeProvider time) : IHostedService, IDisposable
{
    private readonly PeerCheckpoints _kept = new(Path.Combine(log.Directory, RouteLogFiles.PeersDirectory), (member, kind, detail) =>
    {
        metrics.AuditConflict(member, kind);
        LogConflict(logger, member, kind, detail);
    });

    [LoggerMessage(EventId = 4101, Level = LogLevel.Error, Message = "Route log of {Member} contradicts what it signed before ({Kind}): {Detail}; check it with: llm-router-node audit verify --node {Member}")]
    private static partial void LogConflict(ILogger logger, string member, string kind, string detail);
    private ITimer? _timer;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        memberships.Joining += (_, membership) => membership.CheckpointReceived += _kept.Keep;
        log.CheckpointSigned += Announce;
        var interval = host.Current.Mesh.Audit.CheckpointInterval;
        _timer = time.CreateTimer(_ => Announce(log.LastCheckpoint), null, interval, interval);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        Dispose();
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        log.CheckpointSigned -= Announce;
        _timer?.Dispose();
    }

    private void Announce(Checkpoint? checkpoint)
    {
        if (checkpoint is null)
        {
            return;
        }

        foreach (var seat in host.Seats)
        {
            // On the membership's own loop, as every change of its state.
            seat.Membership?.Post(state => state.PublishCheckpoint(new RouteLogCheckpoint
            {
                Size = (ulong)checkpoint.Size,
                Root = ByteString.CopyFrom(checkpoint.Root),
                TimeMs = checkpoint.Time.ToUnixTimeMilliseconds(),
                Signature = ByteString.CopyFrom(checkpoint.Signature),
                Certificate = ByteString.CopyFrom(checkpoint.Certificate),
            }));
        }
    }
}

/// <summary>
/// The checkpoints this host heard from its peers, a JSON-lines file per member, appended as they arrive and trimmed
/// to the latest <see cref="Kept"/> (older ones prove no more than a later one of the same history does; a
/// conflicting later one proves more and is kept too). What <c>audit verify</c> reads as the peers' copies.
/// Each one is also checked, as it arrives, against what was kept of the same member (its file read the first time,
/// so a conflict across this host's restart is seen too): two roots for one tree size (the member signed two
/// histories: equivocation), or a smaller tree signed later than a larger one (its history went back: a log cut or
/// restored from an older copy). A conflict is reported (<paramref name="conflict"/>: member, kind, detail) and the
/// checkpoint kept all the same: it is the evidence. A larger tree cannot be checked against a smaller one here (that
/// needs the entries: <c>audit verify</c> does it).
/// </summary>
internal sealed class PeerCheckpoints(string directory, Action<string, string, string>? conflict = null)
{
    /// <summary>How many checkpoints of one member are kept.</summary>
    public const int Kept = 200;

    private readonly Lock _lock = new();
    private readonly Dictionary<string, List<Checkpoint>> _known = new(StringComparer.Ordinal);

    public void Keep(RouteLogCheckpoint record)
    {
        var checkpoint = new Checkpoint(record.Member, (long)record.Size, record.Root.ToByteArray(),
            DateTimeOffset.FromUnixTimeMilliseconds(record.TimeMs), record.Certificate.ToByteArray(), record.Signature.ToByteArray());
        var path = Path.Combine(directory, record.Member + ".jsonl");
        lock (_lock)
        {
            if (!_known.TryGetValue(record.Member, out var known))
            {
                _known[record.Member] = known = RouteLogFiles.ReadCheckpoints(path);
            }

            if (Contradiction(known, checkpoint) is { } found)
            {
                conflict?.Invoke(record.Member, found.Kind, found.Detail);
            }

            known.Add(checkpoint);
            if (known.Count > 2 * Kept)
            {
                known.RemoveRange(0, known.Count - Kept);
            }

            try
            {
                Directory.CreateDirectory(directory);
                RouteLog.AppendLine(path, checkpoint.Serialize());
                var lines = File.ReadAllLines(path);
                if (lines.Length > 2 * Kept)
                {
                    var trimmed = path + ".tmp";
                    File.WriteAllLines(trimmed, lines[^Kept..]);
                    File.Move(trimmed, path, overwrite: true);
                }
            }
            catch (IOException)
            {
                // A peer's checkpoint not kept this time: its next one (every interval) is.
            }
        }
    }

    /// <summary>How a newly heard checkpoint contradicts one kept before; null when it does not.</summary>
    public static (string Kind, string Detail)? Contradiction(IReadOnlyList<Checkpoint> known, Checkpoint heard)
    {
        if (known.FirstOrDefault(k => k.Size == heard.Size && !k.Root.AsSpan().SequenceEqual(heard.Root)) is { } twin)
        {
            return ("equivocation", $"two roots for the tree of {heard.Size} entries, signed at {twin.Time:O} and at {heard.Time:O}");
        }

        return known.Where(k => k.Size > heard.Size && k.Time < heard.Time).MaxBy(k => k.Size) is { } larger
            ? ("rollback", $"its tree went back from {larger.Size} entries (signed at {larger.Time:O}) to {heard.Size} (signed at {heard.Time:O})")
            : null;
    }
}
