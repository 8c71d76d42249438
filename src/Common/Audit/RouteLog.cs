using System.Security.Cryptography.X509Certificates;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace LlmRouter.Common.Audit;

/// <summary>
/// This process's route log (DESIGN.md section 15, issue 14): an append-only Merkle tree log of what it did with every
/// request. Requests hand their entry over without waiting (<see cref="Append"/>). One writer hashes each entry into
/// the tree, writes it as a line of the current segment, and syncs each batch to disk. At a fixed interval it signs
/// a checkpoint (size, root, time) of what is on disk with the process's certificate key. A segment that reaches its
/// size is closed with a checkpoint at the boundary, and the next one begins with a header saying where it goes on.
/// A crash can leave at most one torn line at the end of the last segment. At the next start it is moved aside
/// (<c>.torn</c>) and the log goes on from the last whole entry; no checkpoint ever covered it.
/// </summary>
public sealed partial class RouteLog : IAsyncDisposable
{
    private readonly string _directory;
    private readonly string _node;
    private readonly Func<X509Certificate2> _certificate;
    private readonly TimeProvider _time;
    private readonly RouteLogSettings _settings;
    private readonly ILogger _logger;
    private readonly Channel<RouteLogEntry> _queue = Channel.CreateUnbounded<RouteLogEntry>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Lock _lock = new();
    private readonly Task _writer;
    private readonly ITimer _checkpoints;

    // Held for the log's life: a second writer of the same directory (another process, or a host started twice) fails
    // to open it instead of interleaving its entries with these.
    private readonly FileStream _lockFile;
    private MerkleFrontier _frontier;
    private byte[] _previous;
    private int _segment;
    private FileStream _stream;

    // What is on disk (synced): the frontier a checkpoint signs, the last leaf and the segment's length there, and the
    // last checkpoint signed.
    private MerkleFrontier _durable;
    private byte[] _durablePrevious;
    private long _durableOffset;
    private Checkpoint? _lastCheckpoint;
    private long _appended;
    private long _written;
    private TaskCompletionSource _batchWritten = new(TaskCreationOptions.RunContinuationsAsynchronously);

    // Set to end the writer's wait for the sync interval at once (a flush, the end); the writer replaces it after each batch.
    private TaskCompletionSource _syncNow = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _lastSync;
    private long _syncs;

    private RouteLog(string directory, string node, Func<X509Certificate2> certificate, TimeProvider time, RouteLogSettings settings, ILogger logger)
    {
        _directory = directory;
        _node = node;
        _certificate = certificate;
        _time = time;
        _settings = settings;
        _logger = logger;
        System.IO.Directory.CreateDirectory(directory);
        _lockFile = new FileStream(Path.Combine(directory, ".lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        (_segment, _frontier, _previous, _stream) = Recover();
        _durable = _frontier.Copy();
        _durablePrevious = _previous;
        _durableOffset = _stream.Position;
        _appended = _written = _frontier.Size;
        _lastCheckpoint = RouteLogFiles.ReadCheckpoints(Path.Combine(directory, RouteLogFiles.CheckpointsFile)).LastOrDefault();
        _writer = Task.Run(WriteAsync);
        _checkpoints = time.CreateTimer(_ => SignCheckpoint(), null, settings.CheckpointInterval, settings.CheckpointInterval);
    }

    /// <summary>Opens (or creates) the log of <paramref name="node"/> in <c>DIRECTORY/NODE</c>, recovering from a crash's torn tail.</summary>
    /// <param name="certificate">The certificate (with its key) checkpoints are signed with, read at each signing (certificates rotate).</param>
    public static RouteLog Open(RouteLogSettings settings, string node, Func<X509Certificate2> certificate, TimeProvider time, ILogger logger) =>
        new(Path.Combine(settings.Directory, node), node, certificate, time, settings, logger);

    /// <summary>Syncs to disk so far (each a batch of entries written together).</summary>
    public long Syncs => Interlocked.Read(ref _syncs);

    /// <summary>The directory this process's log is in.</summary>
    public string Directory => _directory;

    /// <summary>A checkpoint was signed (for gossip).</summary>
    public event Action<Checkpoint>? CheckpointSigned;

    /// <summary>The last checkpoint this log signed; null before the first.</summary>
    public Checkpoint? LastCheckpoint
    {
        get
        {
            lock (_lock)
            {
                return _lastCheckpoint;
            }
        }
    }

    /// <summary>Hands an entry to the writer; never waits for the disk.</summary>
    public void Append(RouteLogEntry entry)
    {
        if (_queue.Writer.TryWrite(entry))
        {
            Interlocked.Increment(ref _appended);
        }
    }

    /// <summary>Waits until every entry appended so far is on disk, then signs a checkpoint of it (tests, shutdown).</summary>
    public async Task<Checkpoint?> FlushAsync(CancellationToken cancellationToken = default)
    {
        var target = Interlocked.Read(ref _appended);
        while (true)
        {
            var batch = Volatile.Read(ref _batchWritten);
            if (Interlocked.Read(ref _written) >= target)
            {
                break;
            }

            // The writer does not wait out its sync interval for this.
            Volatile.Read(ref _syncNow).TrySetResult();

            await batch.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }

        return SignCheckpoint();
    }

    /// <summary>
    /// The one writer. A batch that cannot be written or synced whole (a full disk) is taken back: the segment is cut
    /// to what the last sync left on disk and the tree to what it held, so no checkpoint ever signs a root the file
    /// does not have; its entries are lost and counted in the log. The writer never stops on a failure.
    /// </summary>
    private async Task WriteAsync()
    {
        var reader = _queue.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            // Group commit: at most one sync per interval, in real time (a disk's pace, not the mesh's clock); entries
            // that arrive meanwhile join this batch. A flush or the end does not wait.
            var wait = _settings.SyncInterval - System.Diagnostics.Stopwatch.GetElapsedTime(_lastSync);
            if (wait > TimeSpan.Zero)
            {
                await Task.WhenAny(Task.Delay(wait), Volatile.Read(ref _syncNow).Task).ConfigureAwait(false);
            }

            var taken = 0;
            try
            {
                while (reader.TryRead(out var entry))
                {
                    taken++;
                    if (_stream.Length >= _settings.SegmentBytes)
                    {
                        Rotate();
                    }

                    var line = entry.Serialize(_node, _frontier.Size, _previous);
                    var leaf = MerkleTree.LeafHash(line);
                    var record = new byte[line.Length + 1];
                    line.CopyTo(record, 0);
                    record[^1] = (byte)'\n';
                    // One write per entry: a crash leaves at most this line torn.
                    _stream.Write(record);
                    _frontier.Append(leaf);
                    _previous = leaf;
                }

                Synced();
            }
            catch (Exception ex)
            {
                TakeBack(taken, ex);
            }

            _lastSync = System.Diagnostics.Stopwatch.GetTimestamp();
            Interlocked.Exchange(ref _syncNow, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
            Interlocked.Add(ref _written, taken);
            Interlocked.Exchange(ref _batchWritten, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
        }
    }

    /// <summary>Syncs the segment; what is on disk now is what a checkpoint may sign.</summary>
    private void Synced()
    {
        Interlocked.Increment(ref _syncs);
        _stream.Flush(flushToDisk: true);
        lock (_lock)
        {
            _durable = _frontier.Copy();
            _durablePrevious = _previous;
            _durableOffset = _stream.Position;
        }
    }

    /// <summary>Cuts the segment back to its last sync and the tree with it, after a batch failed.</summary>
    private void TakeBack(int taken, Exception error)
    {
        var lost = _frontier.Size - _durable.Size;
        try
        {
            _stream.SetLength(_durableOffset);
            _stream.Position = _durableOffset;
            _stream.Flush(flushToDisk: true);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or UnauthorizedAccessException)
        {
            // The next start sets aside whatever is left past the last whole entry.
        }

        _frontier = _durable.Copy();
        _previous = _durablePrevious;
        LogWriteFailed(_logger, _directory, Math.Max(lost, taken), error.Message);
    }

    /// <summary>
    /// Closes the current segment with a checkpoint at its end and starts the next. The next segment is made before the
    /// current one is closed: when it cannot be, the current one goes on (past its size) and the next entry tries again.
    /// </summary>
    private void Rotate()
    {
        Synced();
        SignCheckpoint();
        FileStream next;
        try
        {
            next = StartSegment(_segment + 1, _frontier, _previous);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            LogRotateFailed(_logger, _directory, ex.Message);
            return;
        }

        _stream.Dispose();
        _stream = next;
        _segment++;
        lock (_lock)
        {
            _durableOffset = _stream.Position;
        }
    }

    /// <summary>Signs a checkpoint of what is on disk when it grew since the last one; returns the latest.</summary>
    private Checkpoint? SignCheckpoint()
    {
        Checkpoint signed;
        lock (_lock)
        {
            if (_durable.Size == 0 || _durable.Size == _lastCheckpoint?.Size)
            {
                return _lastCheckpoint;
            }

            try
            {
                signed = Checkpoint.Sign(_node, _durable.Size, _durable.Root(), _time.GetUtcNow(), _certificate());
                AppendLine(Path.Combine(_directory, RouteLogFiles.CheckpointsFile), signed.Serialize());
                _lastCheckpoint = signed;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException or InvalidOperationException)
            {
                LogCheckpointFailed(_logger, _directory, ex.Message);
                return _lastCheckpoint;
            }
        }

        try
        {
            CheckpointSigned?.Invoke(signed);
        }
        catch (Exception ex)
        {
            // A listener's failure (gossip) is its own: the log and its writer go on.
            LogCheckpointFailed(_logger, _directory, ex.Message);
        }

        return signed;
    }

    /// <summary>Appends a line to a JSON-lines file and syncs it; a torn last line left by a crash is ended first.</summary>
    internal static void AppendLine(string path, byte[] line)
    {
        using var file = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read);
        var endsWithNewline = true;
        if (file.Length > 0)
        {
            file.Seek(-1, SeekOrigin.End);
            endsWithNewline = file.ReadByte() == '\n';
        }

        file.Seek(0, SeekOrigin.End);
        var record = new byte[line.Length + (endsWithNewline ? 1 : 2)];
        if (!endsWithNewline)
        {
            record[0] = (byte)'\n';
        }

        line.CopyTo(record, endsWithNewline ? 0 : 1);
        record[^1] = (byte)'\n';
        file.Write(record);
        file.Flush(flushToDisk: true);
    }

    /// <summary>
    /// Finds where the log goes on: the last segment whose header reads, its entries replayed into the tree. A torn
    /// last line is moved to <c>SEGMENT.torn</c> and cut off; a last segment whose header never reached the disk whole
    /// is moved aside the same way and the one before goes on.
    /// </summary>
    private (int Segment, MerkleFrontier Frontier, byte[] Previous, FileStream Stream) Recover()
    {
        var segments = RouteLogFiles.Segments(_directory);
        while (segments.Count > 0)
        {
            var (number, path) = segments[^1];
            var (lines, torn) = RouteLogFiles.ReadLines(path);
            var header = lines.Count > 0 ? RouteLogFiles.SegmentHeader.Parse(System.Text.Encoding.UTF8.GetString(lines[0].Line)) : null;
            if (header is null)
            {
                SetAside(path, 0);
                segments.RemoveAt(segments.Count - 1);
                continue;
            }

            var frontier = header.Frontier.Copy();
            var previous = header.Previous;
            foreach (var (_, line) in lines.Skip(1))
            {
                var leaf = MerkleTree.LeafHash(line);
                frontier.Append(leaf);
                previous = leaf;
            }

            if (torn.Length > 0)
            {
                SetAside(path, new FileInfo(path).Length - torn.Length);
            }

            var stream = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read);
            return (number, frontier, previous, stream);
        }

        return (1, new MerkleFrontier(), new byte[MerkleTree.HashSize], StartSegment(1, new MerkleFrontier(), new byte[MerkleTree.HashSize]));
    }

    /// <summary>Moves a segment's bytes from <paramref name="offset"/> on into <c>SEGMENT.torn</c> (kept, never deleted) and cuts them off.</summary>
    private void SetAside(string path, long offset)
    {
        using (var file = new FileStream(path, FileMode.Open, FileAccess.ReadWrite))
        {
            file.Seek(offset, SeekOrigin.Begin);
            var torn = new byte[file.Length - offset];
            file.ReadExactly(torn);
            using (var aside = new FileStream(path + ".torn", FileMode.Append, FileAccess.Write))
            {
                aside.Write(System.Text.Encoding.UTF8.GetBytes($"# {torn.Length} bytes from offset {offset} of {Path.GetFileName(path)}, set aside at {_time.GetUtcNow():O}\n"));
                aside.Write(torn);
                aside.Write("\n"u8);
                aside.Flush(flushToDisk: true);
            }

            file.SetLength(offset);
            file.Flush(flushToDisk: true);
        }

        LogTornTail(_logger, path, offset);
        if (offset == 0)
        {
            File.Move(path, path + ".empty", overwrite: true);
        }
    }

    private FileStream StartSegment(int number, MerkleFrontier frontier, byte[] previous)
    {
        var path = RouteLogFiles.SegmentPath(_directory, number);
        var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.Read);
        var header = new RouteLogFiles.SegmentHeader(number, _node, frontier.Size, previous, frontier.Copy()).Serialize();
        stream.Write(header);
        stream.Write("\n"u8);
        stream.Flush(flushToDisk: true);
        return stream;
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        Volatile.Read(ref _syncNow).TrySetResult();
        await _writer.ConfigureAwait(false);
        await _checkpoints.DisposeAsync().ConfigureAwait(false);
        SignCheckpoint();
        await _stream.DisposeAsync().ConfigureAwait(false);
        await _lockFile.DisposeAsync().ConfigureAwait(false);
    }

    [LoggerMessage(EventId = 1401, Level = LogLevel.Error, Message = "Route log {Directory}: {Lost} entries could not be written and are lost (the log goes on from its last sync): {Reason}")]
    private static partial void LogWriteFailed(ILogger logger, string directory, long lost, string reason);

    [LoggerMessage(EventId = 1404, Level = LogLevel.Error, Message = "Route log {Directory}: the next segment could not be started ({Reason}); the current one goes on")]
    private static partial void LogRotateFailed(ILogger logger, string directory, string reason);

    [LoggerMessage(EventId = 1402, Level = LogLevel.Error, Message = "Route log {Directory}: a checkpoint could not be signed: {Reason}")]
    private static partial void LogCheckpointFailed(ILogger logger, string directory, string reason);

    [LoggerMessage(EventId = 1403, Level = LogLevel.Warning, Message = "Route log {Path}: a write cut short at offset {Offset} (a crash) was set aside in .torn; the log goes on from the last whole entry")]
    private static partial void LogTornTail(ILogger logger, string path, long offset);
}

/// <summary>The mesh file's <c>audit:</c> section.</summary>
/// <param name="Directory">Where every process keeps its log, in a directory of its own (DIRECTORY/NODE).</param>
/// <param name="CheckpointInterval">How often a process signs a checkpoint of its log when it grew.</param>
/// <param name="SegmentBytes">The size at which a segment is closed and the next begun.</param>
public sealed record RouteLogSettings(string Directory, TimeSpan CheckpointInterval, long SegmentBytes)
{
    /// <summary>The default <see cref="SyncInterval"/>.</summary>
    public static TimeSpan DefaultSyncInterval { get; } = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// At most one sync to disk per this interval (group commit): what arrives meanwhile is written and synced together.
    /// A sync costs a disk's flush (hundreds of microseconds, and tens of CPU), which one per request would add to
    /// every request; entries are never waited for by a client, so the interval only bounds what a crash can lose
    /// (what was never synced is never signed). Zero: a sync per batch.
    /// </summary>
    public TimeSpan SyncInterval { get; init; } = DefaultSyncInterval;
}
