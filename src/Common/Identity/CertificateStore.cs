using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using LlmRouter.Common.Configuration;

namespace LlmRouter.Common.Identity;

/// <summary>
/// The PEM files of a mesh's certificate directory: <c>ca.crt</c>/<c>ca.key</c>, and
/// <c>{name}.crt</c>/<c>{name}.key</c> per node, integrator or client. Private keys are written with
/// owner-only permissions and are never committed (see certs/README.md).
/// </summary>
public sealed class CertificateStore(string directory)
{
    public const string CaName = "ca";
    public const string ClientName = "client";

    public string Directory { get; } = directory;

    public string CertificatePath(string name) => Path.Combine(Directory, name + ".crt");

    public string KeyPath(string name) => Path.Combine(Directory, name + ".key");

    public bool Has(string name) => File.Exists(CertificatePath(name)) && File.Exists(KeyPath(name));

    /// <summary>Loads a certificate with its private key, ready for TLS.</summary>
    public X509Certificate2 LoadWithKey(string name)
    {
        var certificatePath = CertificatePath(name);
        var keyPath = KeyPath(name);
        try
        {
            using var pem = X509Certificate2.CreateFromPemFile(certificatePath, keyPath);
            // Round-trip through PKCS#12 so the key is usable by SslStream on every platform.
            return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
        }
        catch (Exception ex) when (ex is CryptographicException or IOException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException(
                $"cannot load certificate '{certificatePath}' with key '{keyPath}': {ex.Message} (create them with certs/create-certs.sh)", ex);
        }
    }

    public X509Certificate2 LoadCertificate(string name)
    {
        var path = CertificatePath(name);
        try
        {
            return X509CertificateLoader.LoadCertificateFromFile(path);
        }
        catch (Exception ex) when (ex is CryptographicException or IOException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException($"cannot load certificate '{path}': {ex.Message} (create it with certs/create-certs.sh)", ex);
        }
    }

    public void Save(string name, X509Certificate2 certificate)
    {
        System.IO.Directory.CreateDirectory(Directory);
        using var key = certificate.GetECDsaPrivateKey()
            ?? throw new InvalidOperationException($"certificate '{name}' has no ECDSA private key to save");
        var keyPath = KeyPath(name);
        WriteAtomically(keyPath, key.ExportPkcs8PrivateKeyPem(), ownerOnly: true);
        WriteAtomically(CertificatePath(name), certificate.ExportCertificatePem(), ownerOnly: false);
    }

    /// <summary>
    /// Creates what is missing for a mesh: the CA (if absent), a certificate per node of the file, one per
    /// pool of each integrator, and a client certificate for the command line. Existing files are kept. Returns the names created.
    /// </summary>
    public IReadOnlyList<string> EnsureForMesh(MeshConfig mesh, DateTimeOffset now)
    {
        var created = new List<string>();
        X509Certificate2 ca;
        if (Has(CaName))
        {
            ca = LoadWithKey(CaName);
        }
        else
        {
            ca = CertificateAuthority.CreateRoot(mesh.Name, now, TimeSpan.FromDays(3650));
            Save(CaName, ca);
            created.Add(CaName);
        }

        using (ca)
        {
            foreach (var node in mesh.AllNodes)
            {
                if (!Has(node.Id))
                {
                    var identity = new MeshIdentity(mesh.Name, node.Pool, MeshRole.Node, node.Id);
                    using var certificate = CertificateAuthority.Issue(ca, identity, HostsFor(node.Listen), now, TimeSpan.FromDays(825));
                    Save(node.Id, certificate);
                    created.Add(node.Id);
                }
            }

            foreach (var integrator in mesh.Integrators)
            {
                foreach (var pool in integrator.Pools)
                {
                    var name = pool.CertificateName(integrator.Id);
                    if (!Has(name))
                    {
                        var identity = new MeshIdentity(mesh.Name, pool.Pool, MeshRole.Integrator, integrator.Id);
                        using var certificate = CertificateAuthority.Issue(ca, identity, HostsFor(pool.Listen), now, TimeSpan.FromDays(825));
                        Save(name, certificate);
                        created.Add(name);
                    }
                }
            }

            if (!Has(ClientName))
            {
                var identity = MeshIdentity.Client(mesh.Name, ClientName);
                using var certificate = CertificateAuthority.Issue(ca, identity, ["localhost"], now, TimeSpan.FromDays(825));
                Save(ClientName, certificate);
                created.Add(ClientName);
            }
        }

        return created;
    }

    /// <summary>
    /// Issues a client certificate (<c>spiffe://MESH/client/NAME</c>) signed by the mesh CA, saved as NAME.crt and
    /// NAME.key beside the members'; the mesh file's tenants say which tenant NAME acts as. Refuses a name already
    /// in the directory (a member's, or a client's that exists: revoking is removing its files and its tenant entry).
    /// </summary>
    public (string Certificate, string Key) IssueClient(MeshConfig mesh, string name, DateTimeOffset now)
    {
        if (Has(name) || File.Exists(CertificatePath(name)))
        {
            throw new InvalidOperationException($"{CertificatePath(name)} exists already: pick another client name, or remove its files first");
        }

        if (mesh.FindNode(name) is not null || mesh.FindIntegrator(name) is not null || name == CaName)
        {
            throw new InvalidOperationException($"'{name}' is the name of a member of mesh '{mesh.Name}' (or of its CA): a client needs a name of its own");
        }

        if (!Has(CaName))
        {
            throw new InvalidOperationException($"{CertificatePath(CaName)} does not exist: run 'certs' first to create the mesh CA");
        }

        using var ca = LoadWithKey(CaName);
        using var certificate = CertificateAuthority.Issue(ca, MeshIdentity.Client(mesh.Name, name), ["localhost"], now, TimeSpan.FromDays(825));
        Save(name, certificate);
        return (CertificatePath(name), KeyPath(name));
    }

    private static IEnumerable<string> HostsFor(Uri listen)
    {
        yield return listen.Host;
        yield return "localhost";
        yield return "127.0.0.1";
        yield return "::1";
    }

    private static void WriteAtomically(string path, string contents, bool ownerOnly)
    {
        var temporary = path + ".tmp";
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (ownerOnly && !OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using (var stream = new FileStream(temporary, options))
        using (var writer = new StreamWriter(stream))
        {
            writer.Write(contents);
        }

        File.Move(temporary, path, overwrite: true);
    }
}
