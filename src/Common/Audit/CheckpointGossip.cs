using Google.Protobuf;
using LlmRouter.Common.Membership;
using LlmRouter.Common.Pipeline;
using LlmRouter.V1;
using Microsoft.Extensions.Hosting;

namespace LlmRouter.Common.Audit;

/// <summary>
/// Spreads route log checkpoints through the mesh (DESIGN.md section 15): each checkpoint this host signs is
/// announced in every pool it sits in, and the latest is announced again at each interval so members that joined
/// later hear it. Every checkpoint a peer announces is kept in this host's log directory
/// (<c>peers/MEMBER.jsonl</c>, <see cref="PeerCheckpoints"/>). A member cannot then rewrite or cut its history
/// without its peers holding its own signed proof of what the history was.
/// </summary>
internal sealed class CheckpointGossip(IRouterHost host, RouteLog log, SeatMemberships memberships, TimeProvider time) : IHostedService, IDisposable
{
    private readonly PeerCheckpoints _kept = new(Path.Combine(log.Directory, RouteLogFiles.PeersDirectory));
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
/// </summary>
internal sealed class PeerCheckpoints(string directory)
{
    /// <summary>How many checkpoints of one member are kept.</summary>
    public const int Kept = 200;

    private readonly Lock _lock = new();

    public void Keep(RouteLogCheckpoint record)
    {
        var checkpoint = new Checkpoint(record.Member, (long)record.Size, record.Root.ToByteArray(),
            DateTimeOffset.FromUnixTimeMilliseconds(record.TimeMs), record.Certificate.ToByteArray(), record.Signature.ToByteArray());
        var path = Path.Combine(directory, record.Member + ".jsonl");
        lock (_lock)
        {
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
}
