using Microsoft.Extensions.Logging;

namespace LlmRouter.Common.Access;

/// <summary>
/// A file read into an immutable value and read again when it changes on disk (STYLE.md 19: readers see one
/// snapshot, swapped whole): the keys file, a JWT issuer's key set. A file that does not read (bad YAML, a
/// malformed entry, a half-written copy) is refused whole and the last good value stays, with a log line
/// naming the file and what is wrong; a file that disappears reads as <paramref name="missing"/>.
/// </summary>
internal sealed partial class WatchedFile<T> : IDisposable
    where T : class
{
    // Editors and the keys command write in steps (truncate, write; or write a copy and move it): read once they settled.
    private static readonly TimeSpan Settle = TimeSpan.FromMilliseconds(300);

    private readonly string _path;
    private readonly Func<string, T> _read;
    private readonly T _missing;
    private readonly ILogger _logger;
    private readonly FileSystemWatcher? _watcher;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private ITimer? _pending;
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
        _current = File.Exists(path) ? read(path) : missing;
        var directory = Path.GetDirectoryName(path);
        if (directory is not null && Directory.Exists(directory))
        {
            _watcher = new FileSystemWatcher(directory, Path.GetFileName(path))
            {
                NotifyFilter = NotifyFilters.LastWrite | NotifyFilters.FileName | NotifyFilters.CreationTime | NotifyFilters.Size,
            };
            _watcher.Changed += Changed;
            _watcher.Created += Changed;
            _watcher.Deleted += Changed;
            _watcher.Renamed += (sender, e) => Changed(sender, e);
            _watcher.EnableRaisingEvents = true;
        }
    }

    public T Current => _current;

    public string FilePath => _path;

    /// <summary>Raised after a new value is in use.</summary>
    public event Action<T>? Reloaded;

    /// <summary>Reads the file now (the watcher calls this once a change settled; tests call it directly).</summary>
    public bool Reload()
    {
        T next;
        try
        {
            next = File.Exists(_path) ? _read(_path) : _missing;
        }
        catch (Exception ex) when (ex is InvalidDataException or IOException or UnauthorizedAccessException or FormatException)
        {
            LogRefused(_logger, _path, ex.Message);
            return false;
        }

        _current = next;
        LogReloaded(_logger, _path);
        Reloaded?.Invoke(next);
        return true;
    }

    public void Dispose()
    {
        _watcher?.Dispose();
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

    [LoggerMessage(Level = LogLevel.Error, Message = "{Path} changed but was not taken: {Reason}; the previous contents stay in use")]
    private static partial void LogRefused(ILogger logger, string path, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Path} read again")]
    private static partial void LogReloaded(ILogger logger, string path);
}
