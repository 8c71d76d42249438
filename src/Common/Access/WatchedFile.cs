using Microsoft.Extensions.Logging;

namespace LlmRouter.Common.Access;

/// <summary>
/// A file read into an immutable value and read again when it changes on disk (STYLE.md 19: readers see one
/// snapshot, swapped whole): the keys file, a JWT issuer's key set. A file that does not read (bad YAML, a
/// malformed entry, a half-written copy) is refused whole and the last good value stays, with a log line
/// naming the file and what is wrong; a file that disappears reads as <paramref name="missing"/>. Changes are
/// seen through the directory's watcher and, as a backstop for what a watcher misses (an overflowed event
/// queue, a directory created later, a symlink swapped), by a look at the file's time and size every few
/// seconds. Reads are serialised: a slow read never publishes over a later one.
/// </summary>
internal sealed partial class WatchedFile<T> : IDisposable
    where T : class
{
    // Editors and the keys command write in steps (truncate, write; or write a copy and move it): read once they settled.
    private static readonly TimeSpan Settle = TimeSpan.FromMilliseconds(300);
    private static readonly TimeSpan Poll = TimeSpan.FromSeconds(5);

    private readonly string _path;
    private readonly Func<string, T> _read;
    private readonly T _missing;
    private readonly ILogger _logger;
    private readonly FileSystemWatcher? _watcher;
    private readonly ITimer _poll;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private readonly Lock _reading = new();
    private ITimer? _pending;
    private (DateTime Written, long Length)? _stamp;
    private volatile T _current;

    /// <param name="read">Reads the file; throws <see cref="InvalidDataException"/> (or an I/O error) when it is not acceptable.</param>
    /// <param name="missing">The value when the file does not exist.</param>
    public WatchedFile(string path, Func<string, T> read, T missing, TimeProvider time, ILogger logger)
    {
        _path = path;
        _read = read;
        _missing = missing;
        _time = time;
        _logger = logger;
        var directory = Path.GetDirectoryName(path);
        if (directory is not null && Directory.Exists(directory))
        {
            // Watching before the first read: a change made meanwhile is read again, not missed.
            _watcher = new FileSystemWatcher(directory, Path.GetFileName(path))
            {
                NotifyFilter = NotifyFilters.LastWrite | NotifyFilters.FileName | NotifyFilters.CreationTime | NotifyFilters.Size,
            };
            _watcher.Changed += Changed;
            _watcher.Created += Changed;
            _watcher.Deleted += Changed;
            _watcher.Renamed += (sender, e) => Changed(sender, e);
            _watcher.Error += (sender, _) => Changed(sender, null!);
            _watcher.EnableRaisingEvents = true;
        }

        _stamp = Stamp();
        _current = _stamp is null ? missing : read(path);
        _poll = time.CreateTimer(_ => PollOnce(), null, Poll, Poll);
    }

    public T Current => _current;

    public string FilePath => _path;

    /// <summary>Reads the file now (the watcher and the poll call this; tests call it directly).</summary>
    public bool Reload()
    {
        lock (_reading)
        {
            T next;
            var stamp = Stamp();
            try
            {
                next = stamp is null ? _missing : _read(_path);
            }
            catch (Exception ex) when (ex is InvalidDataException or IOException or UnauthorizedAccessException or FormatException)
            {
                _stamp = stamp;
                LogRefused(_logger, _path, ex.Message);
                return false;
            }

            _stamp = stamp;
            _current = next;
            LogReloaded(_logger, _path);
            return true;
        }
    }

    public void Dispose()
    {
        _watcher?.Dispose();
        _poll.Dispose();
        lock (_lock)
        {
            _pending?.Dispose();
        }
    }

    private void Changed(object sender, FileSystemEventArgs e)
    {
        lock (_lock)
        {
            _pending?.Dispose();
            _pending = _time.CreateTimer(_ => Reload(), null, Settle, Timeout.InfiniteTimeSpan);
        }
    }

    private void PollOnce()
    {
        if (Stamp() != _stamp)
        {
            Reload();
        }
    }

    private (DateTime Written, long Length)? Stamp()
    {
        var file = new FileInfo(_path);
        return file.Exists ? (file.LastWriteTimeUtc, file.Length) : null;
    }

    [LoggerMessage(EventId = 9001, Level = LogLevel.Error, Message = "{Path} changed but was not taken: {Reason}; the previous contents stay in use")]
    private static partial void LogRefused(ILogger logger, string path, string reason);

    [LoggerMessage(EventId = 9002, Level = LogLevel.Information, Message = "{Path} read again")]
    private static partial void LogReloaded(ILogger logger, string path);
}
