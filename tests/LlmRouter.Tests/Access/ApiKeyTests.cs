using LlmRouter.Common.Access;
using Microsoft.Extensions.Logging.Abstractions;

namespace LlmRouter.Tests.Access;

/// <summary>API keys: their format, the salted hash the keys file keeps, and a keys file read whole or not at all.</summary>
public sealed class ApiKeyTests : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("llmrouter-keys-");

    public void Dispose() => _directory.Delete(recursive: true);

    [Fact]
    public void Create_KeyMatchesItsEntryOnly_AndTheFileKeepsNoKey()
    {
        var (key, entry) = ApiKeys.Create("team", "ci", DateTimeOffset.UnixEpoch);
        var (other, _) = ApiKeys.Create("team", null, DateTimeOffset.UnixEpoch);

        Assert.True(ApiKeys.TryParse(key, out var id, out var secret));
        Assert.Equal(entry.Id, id);
        Assert.True(ApiKeys.Matches(entry, secret));
        Assert.True(ApiKeys.TryParse(other, out _, out var otherSecret));
        Assert.False(ApiKeys.Matches(entry, otherSecret));
        Assert.False(ApiKeys.TryParse(key + "x", out _, out _));
        Assert.False(ApiKeys.TryParse("llmr_ZZZZZZZZZZZZ_" + secret, out _, out _));

        var path = Path.Combine(_directory.FullName, "keys.yaml");
        ApiKeyFile.Write(path, [entry]);
        var text = File.ReadAllText(path);
        Assert.DoesNotContain(secret, text, StringComparison.Ordinal);
        var read = Assert.Single(ApiKeyFile.Read(path));
        Assert.Equal((entry.Id, entry.Tenant, entry.Note, entry.Created), (read.Id, read.Tenant, read.Note, read.Created));
        Assert.True(ApiKeys.Matches(read, secret));
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        }
    }

    [Theory]
    [InlineData("keys: [ { id: 0123456789ab, tenant: t, salt: AAAA, sha256: AAAA, created: 2026-01-01T00:00:00Z } ]", "salt must be 16 bytes")]
    [InlineData("keys: [ { id: XYZ, tenant: t } ]", "id 'XYZ' is not 12 lower-case hex digits")]
    [InlineData("keys: [ { id: 0123456789ab, salt: AAAAAAAAAAAAAAAAAAAAAA== } ]", "tenant is missing")]
    [InlineData("keys: {", "line")]
    [InlineData("entries: []", "expected a mapping with a 'keys:' list")]
    public void Read_MalformedFile_RefusedWhole_NamingTheEntry(string text, string expected)
    {
        var path = Path.Combine(_directory.FullName, "keys.yaml");
        File.WriteAllText(path, text);

        var error = Assert.Throws<InvalidDataException>(() => ApiKeyFile.Read(path));

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void WatchedKeys_ABadEditKeepsThePreviousKeys_AndAGoodOneReplacesThem()
    {
        var path = Path.Combine(_directory.FullName, "keys.yaml");
        var (_, first) = ApiKeys.Create("team", null, DateTimeOffset.UnixEpoch);
        ApiKeyFile.Write(path, [first]);
        using var keys = new WatchedFile<IReadOnlyDictionary<string, ApiKeyEntry>>(
            path, AccessCredentials.ReadKeys, new Dictionary<string, ApiKeyEntry>(), new Microsoft.Extensions.Time.Testing.FakeTimeProvider(), NullLogger.Instance);
        Assert.True(keys.Current.ContainsKey(first.Id));

        File.WriteAllText(path, "keys: [ { id: broken } ]");
        Assert.False(keys.Reload());
        Assert.True(keys.Current.ContainsKey(first.Id));

        var (_, second) = ApiKeys.Create("team", null, DateTimeOffset.UnixEpoch);
        ApiKeyFile.Write(path, [second]);
        Assert.True(keys.Reload());
        Assert.Equal([second.Id], keys.Current.Keys);

        File.Delete(path);
        Assert.True(keys.Reload());
        Assert.Empty(keys.Current);
    }
}
