using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using YamlDotNet.RepresentationModel;

namespace LlmRouter.Common.Access;

/// <summary>
/// API keys of the mesh: <c>llmr_ID_SECRET</c>, where ID (12 hex digits) names the key in the keys file and
/// SECRET is 32 random bytes (base64url). The file keeps, per key, its tenant, a random salt and
/// SHA-256(salt ‖ SECRET), never the key: a secret of 256 random bits needs no slow hash (there is nothing to
/// guess), and a fast one keeps checking a key per request cheap. The key is shown once, when it is created.
/// </summary>
internal static class ApiKeys
{
    public const string Prefix = "llmr_";
    private const int IdBytes = 6;
    private const int SecretBytes = 32;
    private const int SaltBytes = 16;

    /// <summary>A new key for the tenant: the key itself (to print once) and the entry the keys file keeps.</summary>
    public static (string Key, ApiKeyEntry Entry) Create(string tenant, string? note, DateTimeOffset now)
    {
        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(IdBytes));
        var secret = Base64Url(RandomNumberGenerator.GetBytes(SecretBytes));
        var salt = RandomNumberGenerator.GetBytes(SaltBytes);
        return ($"{Prefix}{id}_{secret}", new ApiKeyEntry(id, tenant, salt, Hash(salt, secret), now, null, note));
    }

    /// <summary>Whether the token has the shape of a key of this mesh (the prefix); its parts are checked by <see cref="TryParse"/>.</summary>
    public static bool LooksLikeKey(string token) => token.StartsWith(Prefix, StringComparison.Ordinal);

    public static bool TryParse(string token, out string id, out string secret)
    {
        id = secret = "";
        if (!LooksLikeKey(token) || token.Length != Prefix.Length + (2 * IdBytes) + 1 + 43 || token[Prefix.Length + (2 * IdBytes)] != '_')
        {
            return false;
        }

        id = token.Substring(Prefix.Length, 2 * IdBytes);
        secret = token[(Prefix.Length + (2 * IdBytes) + 1)..];
        return id.All(char.IsAsciiHexDigitLower);
    }

    /// <summary>Whether the secret is the entry's (a comparison in constant time).</summary>
    public static bool Matches(ApiKeyEntry entry, string secret) =>
        CryptographicOperations.FixedTimeEquals(Hash(entry.Salt, secret), entry.Sha256);

    private static byte[] Hash(byte[] salt, string secret)
    {
        var bytes = new byte[salt.Length + Encoding.ASCII.GetByteCount(secret)];
        salt.CopyTo(bytes, 0);
        Encoding.ASCII.GetBytes(secret, bytes.AsSpan(salt.Length));
        return SHA256.HashData(bytes);
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}

/// <summary>One key as the keys file keeps it.</summary>
/// <param name="Id">The key's public name, part of the key.</param>
/// <param name="Expires">When a rotated key stops working; null: until it is revoked (removed).</param>
internal sealed record ApiKeyEntry(string Id, string Tenant, byte[] Salt, byte[] Sha256, DateTimeOffset Created, DateTimeOffset? Expires, string? Note)
{
    public bool ExpiredAt(DateTimeOffset now) => Expires is { } expires && expires <= now;
}

/// <summary>
/// The keys file (YAML): <c>keys:</c>, a list of entries with id, tenant, salt and sha256 (base64), created,
/// and optionally expires and note. Read whole and checked whole: a file with one bad entry is refused, so a
/// reload never half-applies; written to a temporary file and moved into place, owner-readable only.
/// </summary>
internal static class ApiKeyFile
{
    public static IReadOnlyList<ApiKeyEntry> Read(string path)
    {
        if (!File.Exists(path))
        {
            return [];
        }

        var yaml = new YamlStream();
        try
        {
            using var reader = new StreamReader(path);
            yaml.Load(reader);
        }
        catch (YamlDotNet.Core.YamlException ex)
        {
            throw new InvalidDataException($"{path}: line {ex.Start.Line}: {ex.Message}", ex);
        }

        if (yaml.Documents.Count == 0)
        {
            return [];
        }

        if (yaml.Documents[0].RootNode is not YamlMappingNode root || !root.Children.TryGetValue(new YamlScalarNode("keys"), out var list))
        {
            throw new InvalidDataException($"{path}: expected a mapping with a 'keys:' list");
        }

        if (list is YamlScalarNode { Value: null or "" })
        {
            return [];
        }

        if (list is not YamlSequenceNode sequence)
        {
            throw new InvalidDataException($"{path}: keys must be a list");
        }

        var entries = new List<ApiKeyEntry>();
        var index = 0;
        foreach (var node in sequence.Children)
        {
            entries.Add(ReadEntry(node, $"{path}: keys[{index++}]"));
        }

        var duplicate = entries.GroupBy(e => e.Id, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        return duplicate is null ? entries : throw new InvalidDataException($"{path}: key id '{duplicate.Key}' appears twice");
    }

    public static void Write(string path, IReadOnlyList<ApiKeyEntry> entries)
    {
        var text = new StringBuilder("# API keys of the mesh (llm-router-node keys): salted SHA-256 hashes, never the keys themselves.\n");
        text.Append(entries.Count == 0 ? "keys: []\n" : "keys:\n");
        foreach (var entry in entries)
        {
            text.Append(CultureInfo.InvariantCulture, $"  - id: {entry.Id}\n    tenant: {entry.Tenant}\n");
            text.Append(CultureInfo.InvariantCulture, $"    salt: {Convert.ToBase64String(entry.Salt)}\n    sha256: {Convert.ToBase64String(entry.Sha256)}\n");
            text.Append(CultureInfo.InvariantCulture, $"    created: {entry.Created.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}\n");
            if (entry.Expires is { } expires)
            {
                text.Append(CultureInfo.InvariantCulture, $"    expires: {expires.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}\n");
            }

            if (entry.Note is { Length: > 0 } note)
            {
                text.Append("    note: ").Append(Quoted(note)).Append('\n');
            }
        }

        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(directory);
        // A temporary file of its own (two writers never share one), owner-only from its creation, on disk before the move.
        var temporary = $"{path}.{Guid.NewGuid():N}.tmp";
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        try
        {
            using (var stream = new FileStream(temporary, options))
            {
                stream.Write(Encoding.UTF8.GetBytes(text.ToString()));
                stream.Flush(flushToDisk: true);
            }

            File.Move(temporary, path, overwrite: true);
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    private static ApiKeyEntry ReadEntry(YamlNode node, string where)
    {
        if (node is not YamlMappingNode map)
        {
            throw new InvalidDataException($"{where}: expected a mapping (id, tenant, salt, sha256, created)");
        }

        string Field(string key, bool required = true)
        {
            if (map.Children.TryGetValue(new YamlScalarNode(key), out var value) && value is YamlScalarNode { Value: { Length: > 0 } text })
            {
                return text;
            }

            return required ? throw new InvalidDataException($"{where}: {key} is missing") : "";
        }

        byte[] Bytes(string key, int length)
        {
            try
            {
                var bytes = Convert.FromBase64String(Field(key));
                return bytes.Length == length ? bytes : throw new InvalidDataException($"{where}: {key} must be {length} bytes in base64, not {bytes.Length}");
            }
            catch (FormatException)
            {
                throw new InvalidDataException($"{where}: {key} is not base64");
            }
        }

        DateTimeOffset? Time(string key, bool required)
        {
            var text = Field(key, required);
            if (text.Length == 0)
            {
                return null;
            }

            return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time)
                ? time
                : throw new InvalidDataException($"{where}: {key} '{text}' is not a time (2026-11-30T10:00:00Z)");
        }

        var id = Field("id");
        if (id.Length != 12 || !id.All(char.IsAsciiHexDigitLower))
        {
            throw new InvalidDataException($"{where}: id '{id}' is not 12 lower-case hex digits");
        }

        return new ApiKeyEntry(id, Field("tenant"), Bytes("salt", 16), Bytes("sha256", 32), Time("created", true)!.Value, Time("expires", false), Field("note", false) is { Length: > 0 } note ? note : null);
    }

    // A note is one line in a double-quoted scalar: backslashes and quotes escaped, line breaks made spaces.
    private static string Quoted(string text) =>
        "\"" + text.ReplaceLineEndings(" ").Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";
}
