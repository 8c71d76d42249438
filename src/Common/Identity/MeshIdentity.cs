using System.Security.Cryptography.X509Certificates;

namespace LlmRouter.Common.Identity;

/// <summary>
/// Who a process or a client is in the mesh, as its certificate's URI SAN states it (SPIFFE ID syntax, so
/// standard tooling reads it): a member is <c>spiffe://{mesh}/pool/{pool}/{role}/{name}</c>, a client (a
/// service or an operator, not in any pool) <c>spiffe://{mesh}/client/{name}</c>. Certificates of clients
/// issued before clients left the pools (<c>pool/clients/client/{name}</c>) read as the same client.
/// </summary>
public sealed record MeshIdentity(string Mesh, string Pool, MeshRole Role, string Name)
{
    public const string Scheme = "spiffe";

    /// <summary>A client's identity: it is in no pool.</summary>
    public static MeshIdentity Client(string mesh, string name) => new(mesh, "", MeshRole.Client, name);

    public Uri ToUri() => Role == MeshRole.Client
        ? new($"{Scheme}://{Mesh}/client/{Name}")
        : new($"{Scheme}://{Mesh}/pool/{Pool}/{RoleSegment(Role)}/{Name}");

    public override string ToString() => ToUri().ToString();

    public static bool TryParse(Uri uri, out MeshIdentity? identity)
    {
        identity = null;
        if (!string.Equals(uri.Scheme, Scheme, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var segments = uri.AbsolutePath.Trim('/').Split('/');
        if (segments is ["client", { Length: > 0 } clientName])
        {
            identity = Client(uri.Host, clientName);
            return true;
        }

        if (segments.Length != 4 || segments[0] != "pool")
        {
            return false;
        }

        MeshRole? role = segments[2] switch
        {
            "node" => MeshRole.Node,
            "integrator" => MeshRole.Integrator,
            "client" => MeshRole.Client,
            _ => null,
        };
        if (role is null)
        {
            return false;
        }

        identity = role == MeshRole.Client ? Client(uri.Host, segments[3]) : new MeshIdentity(uri.Host, segments[1], role.Value, segments[3]);
        return true;
    }

    /// <summary>Reads the identity from a certificate's subject alternative names.</summary>
    public static MeshIdentity? FromCertificate(X509Certificate2 certificate)
    {
        foreach (var extension in certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>())
        {
            // URIs are not exposed by the extension's API; decode the raw GeneralNames ([6] IA5String).
            foreach (var uri in SubjectAlternativeNames.ReadUris(extension.RawData))
            {
                if (Uri.TryCreate(uri, UriKind.Absolute, out var parsed) && TryParse(parsed, out var identity))
                {
                    return identity;
                }
            }
        }

        return null;
    }

    private static string RoleSegment(MeshRole role) => role switch
    {
        MeshRole.Node => "node",
        MeshRole.Integrator => "integrator",
        _ => "client",
    };
}

/// <summary>What a certificate's holder may do in the mesh.</summary>
public enum MeshRole
{
    Node,
    Integrator,
    /// <summary>An operator's or service's client certificate: may call the Router and Admin APIs, never gossip.</summary>
    Client,
}
