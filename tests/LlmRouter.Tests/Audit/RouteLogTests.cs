using System.Security.Cryptography.X509Certificates;
using System.Text;
using LlmRouter.Common.Audit;
using LlmRouter.Common.Configuration;
using LlmRouter.Common.Identity;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace LlmRouter.Tests.Audit;

/// <summary>
/// A route log written, then edited, trimmed and rolled back by hand, and verified: an untouched log (over several
/// segments) verifies; an edited entry, a deleted one, a cut tail, and a history rewritten and signed again are each
/// caught and named; a write a crash cut short is set aside at the next start and the log verifies around it.
/// </summary>
public sealed class RouteLogTests : IDisposable
{
    private const string Node = "n1";
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("llmrouter-routelog-");
    // Checkpoints are checked against the certificate's validity at their time: the clock starts when the certificates do.
    private readonly FakeTimeProvider _time = new(TimeProvider.System.GetUtcNow().AddMinutes(1));
    private readonly X509Certificate2 _certificate;
    private readonly X509Certificate2 _authority;
    private readonly MeshConfig _mesh;

    public RouteLogTests()
    {
        var yaml = Path.Combine(_directory.FullName, "mesh.yaml");
        File.WriteAllText(yaml, """
            mesh:
              name: audit-test
              certificates: certs
            pools:
              - name: pool-a
                nodes:
                  - id: n1
                    listen: https://127.0.0.1:7101
                    backends:

            """ + Infrastructure.TestMesh.Backend("sim", "small"));
        _mesh = MeshConfigLoader.Load(yaml);
        var store = new CertificateStore(_mesh.CertificatesDirectory);
        store.EnsureForMesh(_mesh, TimeProvider.System.GetUtcNow());
        _certificate = store.LoadWithKey(Node);
        _authority = store.LoadCertificate(CertificateStore.CaName);
    }

    [Fact]
    public async Task Entries_ArrivingWithinTheSyncInterval_AreSyncedTogether_AndAFlushDoesNotWaitForIt()
    {
        await using var log = RouteLog.Open(Settings() with { SyncInterval = TimeSpan.FromMinutes(1) }, Node, () => _certificate, _time, NullLogger.Instance);
        log.Append(Entry(0));
        await log.FlushAsync();
        var before = log.Syncs;

        for (var i = 1; i <= 200; i++)
        {
            log.Append(Entry(i));
        }

        // A minute's interval is not waited out by a flush; the 200 entries go to disk in one or two syncs, not 200.
        var signed = await log.FlushAsync();

        Assert.InRange(log.Syncs - before, 1, 2);
        Assert.Equal(201, signed!.Size);
        Assert.Equal(201, RouteLogExport.Entries(LogDirectory).Count);
    }

    private RouteLogSettings Settings(long segmentBytes = 1024 * 1024) =>
        new(Path.Combine(_directory.FullName, "route-log"), TimeSpan.FromSeconds(10), segmentBytes);

    private string LogDirectory => Path.Combine(_directory.FullName, "route-log", Node);

    private async Task<RouteLog> WriteAsync(int entries, long segmentBytes = 1024 * 1024, int from = 0)
    {
        var log = RouteLog.Open(Settings(segmentBytes), Node, () => _certificate, _time, NullLogger.Instance);
        for (var i = from; i < from + entries; i++)
        {
            log.Append(Entry(i));
            if (i % 10 == 9)
            {
                _time.Advance(TimeSpan.FromSeconds(1));
                await log.FlushAsync();
            }
        }

        await log.FlushAsync();
        return log;
    }

    private RouteLogVerifier.Report Verify(IEnumerable<(Checkpoint, string)>? peers = null) =>
        RouteLogVerifier.Verify(LogDirectory, Node, _authority, _mesh.Name, peers ?? []);

    [Fact]
    public async Task Verify_UntouchedLogOverSeveralSegments_Verifies()
    {
        await using (await WriteAsync(60, segmentBytes: 4096))
        {
        }

        var report = Verify();

        Assert.True(report.Verified, string.Join("\n", report.Problems));
        Assert.Equal(60, report.Entries);
        Assert.True(report.Segments >= 3, $"{report.Segments} segments");
        Assert.True(report.CheckpointsMatched >= 6, $"{report.CheckpointsMatched} checkpoints matched");
    }

    [Fact]
    public async Task Verify_OneEntryEdited_NamesIt()
    {
        await using (await WriteAsync(40))
        {
        }

        EditLines(lines => lines[18] = lines[18].Replace("\"tenant\":\"team-17\"", "\"tenant\":\"team-99\"", StringComparison.Ordinal));

        var report = Verify();

        Assert.False(report.Verified);
        Assert.StartsWith("entry 17 ", report.Problems[0]);
        Assert.Contains("changed", report.Problems[0]);
    }

    [Fact]
    public async Task Verify_OneEntryDeleted_NamesIt()
    {
        await using (await WriteAsync(40))
        {
        }

        EditLines(lines => lines.RemoveAt(18));

        var report = Verify();

        Assert.False(report.Verified);
        Assert.StartsWith("entry 17 ", report.Problems[0]);
        Assert.Contains("missing", report.Problems[0]);
    }

    [Fact]
    public async Task Verify_TailCut_IsCaughtByTheLastCheckpoint()
    {
        await using (await WriteAsync(40))
        {
        }

        EditLines(lines => lines.RemoveRange(lines.Count - 5, 5));

        var report = Verify();

        Assert.False(report.Verified);
        Assert.Contains(report.Problems, p => p.Contains("entries 35 to 39 were cut off", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Verify_HistoryRewrittenAndSignedAgain_IsCaughtByThePeersCopies()
    {
        List<Checkpoint> kept;
        await using (await WriteAsync(30))
        {
            kept = RouteLogFiles.ReadCheckpoints(Path.Combine(LogDirectory, RouteLogFiles.CheckpointsFile));
        }

        // The node's operator rewrites entry 5 and everything after it consistently, with new checkpoints signed by the
        // node's own key: the log agrees with itself, but not with what its peers kept.
        Directory.Delete(LogDirectory, recursive: true);
        await using (var log = RouteLog.Open(Settings(), Node, () => _certificate, _time, NullLogger.Instance))
        {
            for (var i = 0; i < 30; i++)
            {
                log.Append(Entry(i) with { Tenant = i == 5 ? "someone-else" : $"team-{i}" });
            }

            await log.FlushAsync();
        }

        Assert.True(Verify().Verified, "the rewritten log agrees with its own new checkpoints");
        var report = Verify(kept.Select(c => (c, "kept by n2")));

        Assert.False(report.Verified);
        Assert.Contains(report.Problems, p => p.Contains("signed two different trees of 30 entries", StringComparison.Ordinal));
    }

    [Fact]
    public async Task CrashMidWrite_TheTornLineIsSetAsideAndTheLogGoesOnAndVerifies()
    {
        await using (await WriteAsync(20))
        {
        }

        // A crash in the middle of an entry's write: half a line at the end of the segment.
        var segment = RouteLogFiles.Segments(LogDirectory)[^1].Path;
        await File.AppendAllTextAsync(segment, "{\"index\":20,\"prev\":\"ab");
        var torn = Verify();
        Assert.True(torn.Verified, string.Join("\n", torn.Problems));
        Assert.Contains(torn.Notes, n => n.Contains("a write cut short", StringComparison.Ordinal));

        await using (await WriteAsync(10, from: 20))
        {
        }

        var report = Verify();
        Assert.True(report.Verified, string.Join("\n", report.Problems));
        Assert.Equal(30, report.Entries);
        Assert.Contains("{\"index\":20,\"prev\":\"ab", await File.ReadAllTextAsync(segment + ".torn"));
    }

    [Fact]
    public async Task Verify_OldestSegmentGone_IsAFaultUnlessArchivedOnPurpose()
    {
        await using (await WriteAsync(60, segmentBytes: 4096))
        {
        }

        File.Delete(RouteLogFiles.Segments(LogDirectory)[0].Path);

        var deleted = Verify();
        var archived = RouteLogVerifier.Verify(LogDirectory, Node, _authority, _mesh.Name, [], archived: true);

        Assert.False(deleted.Verified);
        Assert.Contains(deleted.Problems, p => p.Contains("the segments before it are not here", StringComparison.Ordinal));
        Assert.True(archived.Verified, string.Join("\n", archived.Problems));
        Assert.Contains(archived.Notes, n => n.Contains("whose start the checkpoint signed at", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Verify_MalformedLinesAndCheckpoints_AreReportedNotThrown()
    {
        await using (await WriteAsync(20))
        {
        }

        EditLines(lines => lines[5] = lines[5].Replace("\"index\":4,", "\"index\":4.5,", StringComparison.Ordinal));
        await File.AppendAllTextAsync(Path.Combine(LogDirectory, RouteLogFiles.CheckpointsFile), "{\"node\":\"n1\",\"size\":3,\"time_ms\":99999999999999999}\n");

        var report = Verify();

        Assert.False(report.Verified);
        Assert.StartsWith("entry 4 ", report.Problems[0]);
    }

    [Fact]
    public async Task Open_ASecondWriterOfTheSameLog_IsRefused()
    {
        await using var first = await WriteAsync(1);
        Assert.Throws<IOException>(() => RouteLog.Open(Settings(), Node, () => _certificate, _time, NullLogger.Instance));
    }

    [Fact]
    public async Task Request_EachEntryIsProvenInTheSignedTree_AndAnEditedOneIsNot()
    {
        List<Checkpoint> checkpoints;
        await using (await WriteAsync(25))
        {
            checkpoints = RouteLogFiles.ReadCheckpoints(Path.Combine(LogDirectory, RouteLogFiles.CheckpointsFile));
        }

        var found = RouteLogExport.Request(LogDirectory, "request-13", checkpoints);

        var proven = Assert.Single(found);
        Assert.Equal(13, proven.Entry.Index);
        Assert.Equal(25, proven.Checkpoint!.Size);
        Assert.True(proven.Included);

        EditLines(lines => lines[14] = lines[14].Replace("\"output_tokens\":30", "\"output_tokens\":3", StringComparison.Ordinal));
        Assert.False(Assert.Single(RouteLogExport.Request(LogDirectory, "request-13", checkpoints)).Included);
    }

    [Fact]
    public async Task Export_JsonLinesAndSyslog_CarryEachEntryAndItsLeafHash()
    {
        await using (var log = RouteLog.Open(Settings(), Node, () => _certificate, _time, NullLogger.Instance))
        {
            log.Append(Entry(0) with { Tenant = "a \"quoted] \\ tenant" });
            log.Append(Entry(1) with { Outcome = "failed", Status = "UNAVAILABLE" });
            await log.FlushAsync();
        }

        var entries = RouteLogExport.Entries(LogDirectory);
        var json = System.Text.Json.JsonDocument.Parse(RouteLogExport.JsonLine(entries[0])).RootElement;
        var served = RouteLogExport.Syslog(entries[0]);
        var failed = RouteLogExport.Syslog(entries[1]);

        Assert.Equal("a \"quoted] \\ tenant", json.GetProperty("tenant").GetString());
        Assert.Equal(Convert.ToHexStringLower(entries[0].Leaf), json.GetProperty("leaf_hash").GetString());
        // RFC 5424: <PRI>VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD-ID PARAM="VALUE"...] MSG.
        Assert.Matches(@"^<110>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z n1 llm-router - route \[route@32473 index=""0"" request_id=""request-0"" ", served);
        Assert.Contains("tenant=\"a \\\"quoted\\] \\\\ tenant\"", served);
        Assert.StartsWith("<108>1 ", failed);
        Assert.EndsWith("at n1: failed UNAVAILABLE, served by n1/sim", failed);
    }

    [Fact]
    public void Checkpoint_SignedByAnotherMember_OrChanged_IsNotTrusted()
    {
        var checkpoint = Checkpoint.Sign(Node, 3, MerkleTree.EmptyRoot, _time.GetUtcNow(), _certificate);
        Assert.Null(checkpoint.Problem(_authority, _mesh.Name));
        Assert.Contains("does not name 'n2'", (checkpoint with { Node = "n2" }).Problem(_authority, _mesh.Name));
        Assert.Contains("signature does not match", (checkpoint with { Size = 4 }).Problem(_authority, _mesh.Name));
        Assert.Equal(checkpoint.Serialize(), Checkpoint.Parse(Encoding.UTF8.GetString(checkpoint.Serialize()))!.Serialize());
    }

    private void EditLines(Action<List<string>> edit)
    {
        var segment = RouteLogFiles.Segments(LogDirectory).Single().Path;
        var lines = File.ReadAllLines(segment).ToList();
        edit(lines);
        File.WriteAllText(segment, string.Join("\n", lines) + "\n");
    }

    private RouteLogEntry Entry(int i) => new()
    {
        RequestId = $"request-{i}",
        Time = _time.GetUtcNow(),
        Operation = "chat",
        Hop = "entry",
        Tenant = $"team-{i}",
        Model = "small",
        Path = [Node],
        ServingNode = Node,
        Backend = "sim",
        Outcome = "whole",
        Status = "OK",
        Attempts = 1,
        InputTokens = 12,
        OutputTokens = 30,
        TotalMs = 15.5,
    };

    public void Dispose()
    {
        _certificate.Dispose();
        _authority.Dispose();
        _directory.Delete(recursive: true);
    }
}
