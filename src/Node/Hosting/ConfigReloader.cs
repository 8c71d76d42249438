using LlmRouter.Common.Configuration;
using LlmRouter.Node.Catalog;

namespace LlmRouter.Node.Hosting;

/// <summary>
/// Reloads the mesh file when it changes: the model list and routing weights take effect for new requests,
/// open streams keep the snapshot they started with. A file that fails validation is reported with every
/// error and the running configuration stays.
/// </summary>
internal sealed partial class ConfigReloader(NodeCatalog catalog, TimeProvider time, ILogger<ConfigReloader> logger) : BackgroundService
{
    // Editors write a file in several steps; wait for the burst of change events to settle.
    private static readonly TimeSpan Settle = TimeSpan.FromMilliseconds(300);

    private int _rejected;

    /// <summary>How many changed files were refused; the running configuration stayed each time.</summary>
    public int Rejected => Volatile.Read(ref _rejected);

    /// <summary>Why the last changed file was refused.</summary>
    public string? LastRejection { get; private set; }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var path = catalog.Current.Mesh.SourcePath;
        var changed = new SemaphoreSlim(0);
        using var watcher = new FileSystemWatcher(Path.GetDirectoryName(path)!, Path.GetFileName(path))
        {
            NotifyFilter = NotifyFilters.LastWrite | NotifyFilters.FileName | NotifyFilters.Size | NotifyFilters.CreationTime,
        };
        FileSystemEventHandler onChange = (_, _) => changed.Release();
        watcher.Changed += onChange;
        watcher.Created += onChange;
        watcher.Renamed += (_, _) => changed.Release();
        watcher.EnableRaisingEvents = true;

        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await changed.WaitAsync(stoppingToken).ConfigureAwait(false);
                await Task.Delay(Settle, time, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            while (changed.CurrentCount > 0)
            {
                changed.Wait(0, CancellationToken.None);
            }

            Reload(path);
        }
    }

    internal void Reload(string path)
    {
        try
        {
            var snapshot = catalog.Apply(MeshConfigLoader.Load(path));
            LogReloaded(logger, path, snapshot.Version, snapshot.Models.Count());
        }
        catch (ConfigException ex)
        {
            Reject(path, string.Join(Environment.NewLine, ex.Errors));
        }
        catch (InvalidOperationException ex)
        {
            Reject(path, ex.Message);
        }
    }

    private void Reject(string path, string errors)
    {
        LastRejection = errors;
        Interlocked.Increment(ref _rejected);
        LogRejected(logger, path, errors);
    }

    [LoggerMessage(EventId = 3001, Level = LogLevel.Information, Message = "Reloaded {Path}: configuration version {Version}, {Models} model(s)")]
    private static partial void LogReloaded(ILogger logger, string path, long version, int models);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Error, Message = "Kept the running configuration: {Path} was changed but cannot be used:\n{Errors}")]
    private static partial void LogRejected(ILogger logger, string path, string errors);
}
