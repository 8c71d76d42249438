using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;

namespace LlmRouter.Common.Identity;

/// <summary>
/// A member's certificate (a node's, or an integrator's in one pool), reloaded when its files change so certificates rotate without a restart: new
/// TLS handshakes (server and client side) present the new certificate, and <see cref="Rotated"/> lets
/// the membership re-announce it. A replacement that does not chain to the mesh CA or names another
/// identity is refused and the current certificate stays.
/// </summary>
internal sealed partial class MemberCertificate : IDisposable
{
    // Certificate tools write the key and the certificate one after the other; wait for both.
    private static readonly TimeSpan Settle = TimeSpan.FromMilliseconds(500);

    private readonly CertificateStore _store;
    private readonly string _name;
    private readonly MeshTrust _trust;
    private readonly ILogger _logger;
    private readonly FileSystemWatcher _watcher;
    private readonly Lock _lock = new();
    private readonly MeshIdentity _identity;
    private ITimer? _pending;
    private volatile X509Certificate2 _current;

    public MemberCertificate(CertificateStore store, string name, MeshTrust trust, TimeProvider time, ILogger logger)
    {
        _store = store;
        _name = name;
        _trust = trust;
        _logger = logger;
        _current = store.LoadWithKey(_name);
        _identity = trust.Identify(_current) ?? throw new InvalidOperationException(
            $"{store.CertificatePath(_name)} does not chain to the mesh CA {store.CertificatePath(CertificateStore.CaName)} or names no identity of this mesh");
        _watcher = new FileSystemWatcher(store.Directory, _name + ".*")
        {
            NotifyFilter = NotifyFilters.LastWrite | NotifyFilters.FileName | NotifyFilters.CreationTime | NotifyFilters.Size,
        };
        FileSystemEventHandler changed = (_, _) =>
        {
            lock (_lock)
            {
                _pending?.Dispose();
                _pending = time.CreateTimer(_ => Reload(), null, Settle, Timeout.InfiniteTimeSpan);
            }
        };
        _watcher.Changed += changed;
        _watcher.Created += changed;
        _watcher.Renamed += (sender, e) => changed(sender, e);
        _watcher.EnableRaisingEvents = true;
    }

    public X509Certificate2 Current => _current;

    public MeshIdentity Identity => _identity;

    /// <summary>Raised after a new certificate is in use.</summary>
    public event Action<X509Certificate2>? Rotated;

    public void Dispose()
    {
        _watcher.Dispose();
        _pending?.Dispose();
    }

    internal void Reload()
    {
        X509Certificate2 candidate;
        try
        {
            candidate = _store.LoadWithKey(_name);
        }
        catch (InvalidOperationException ex)
        {
            LogRefused(_logger, _store.CertificatePath(_name), ex.Message);
            return;
        }

        if (candidate.Thumbprint == _current.Thumbprint)
        {
            candidate.Dispose();
            return;
        }

        if (_trust.Identify(candidate) != _identity)
        {
            LogRefused(_logger, _store.CertificatePath(_name), $"it does not chain to the mesh CA or does not name {_identity}");
            candidate.Dispose();
            return;
        }

        _current = candidate;
        LogRotated(_logger, _identity.ToString(), candidate.Thumbprint, candidate.NotAfter);
        Rotated?.Invoke(candidate);
    }

    [LoggerMessage(EventId = 5001, Level = LogLevel.Information, Message = "Certificate of {Identity} rotated: now {Thumbprint}, valid until {NotAfter:u}")]
    private static partial void LogRotated(ILogger logger, string identity, string thumbprint, DateTime notAfter);

    [LoggerMessage(EventId = 5002, Level = LogLevel.Error, Message = "Kept the current certificate: the new {Path} cannot be used: {Reason}")]
    private static partial void LogRefused(ILogger logger, string path, string reason);
}
