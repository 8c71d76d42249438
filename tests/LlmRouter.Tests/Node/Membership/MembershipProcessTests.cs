using LlmRouter.Common.Configuration;
using LlmRouter.Common.Identity;
using LlmRouter.Tests.Infrastructure;
using LlmRouter.V1;

namespace LlmRouter.Tests.Node.Membership;

/// <summary>
/// Five real llm-router-node processes on loopback with mutual TLS (LAN preset), joining through one seed:
/// they converge; a member frozen with SIGSTOP until another suspects it refutes after SIGCONT without being
/// declared dead; a member killed with SIGKILL is declared dead by all; restarted, it rejoins with a higher
/// incarnation. The suspicion multiplier is raised to 25 (a 25 s suspicion instead of the preset's 4 s) so
/// that a loaded machine, which may be slow to show the test the suspicion and slow to run the resumed
/// member (both seen taking over ten seconds beside stress-ng), cannot turn the refutation into a race.
/// </summary>
[Collection(ProcessCollection.Name)]
public sealed class MembershipProcessTests : IDisposable
{
    private const int Count = 5;
    private const int SuspicionMultiplier = 25;
    private readonly ProcessGroup _group = new("llmrouter-pool-");

    private Dictionary<string, NodeProcessRunner> Processes => _group.Processes;

    public void Dispose() => _group.Dispose();

    private string Outputs(string problem) => _group.Outputs(problem);

    [Fact]
    public async Task FiveProcesses_ConvergeRefuteAStallDetectACrashAndRejoinAfterRestart()
    {
        var nodes = Enumerable.Range(1, Count).Select(i => ($"n{i}", TestMesh.FreePort())).ToList();
        var path = Path.Combine(_group.Directory.FullName, "mesh.yaml");
        await File.WriteAllTextAsync(path, TestMesh.Yaml(nodes, preset: "lan", seed: nodes[0].Item2, suspicionMultiplier: SuspicionMultiplier));
        var mesh = MeshConfigLoader.Load(path);
        var store = new CertificateStore(mesh.CertificatesDirectory);
        store.EnsureForMesh(mesh, TimeProvider.System.GetUtcNow());
        foreach (var (id, _) in nodes)
        {
            Processes[id] = NodeProcessRunner.Start("run", "--config", path, "--node", id);
        }

        using var channel = MeshChannels.Create(new Uri($"https://127.0.0.1:{nodes[0].Item2}"), store.LoadCertificate("ca"), store.LoadWithKey("client"));
        var admin = new Admin.AdminClient(channel);
        async Task<Dictionary<string, Member>> Members(Admin.AdminClient client) =>
            (await client.ListMembersAsync(new ListMembersRequest(), deadline: TimeProvider.System.GetUtcNow().UtcDateTime.AddSeconds(5))).Members.ToDictionary(m => m.Id);
        Task Until(Func<Task<bool>> condition, string phase, TimeSpan bound) =>
            Eventually.WaitUntil(Eventually.Answered(condition), phase, () => Task.FromResult(Outputs("last seen")), bound);

        // 1. Every member joins through n1 and converges.
        await Until(async () => (await Members(admin)).Values.Count(m => m.Status == MemberStatus.Alive) == Count, "five members alive at n1", TimeSpan.FromSeconds(60));

        // 2. n3 frozen (SIGSTOP) until a member suspects it (a few seconds: each member probes it about once
        //    per probe round; n1 says so, or any member's log does), then resumed (SIGCONT) at once, well within
        //    the 25 s suspicion time: it refutes with a higher incarnation and is never declared dead.
        var frozen = Processes["n3"];
        Assert.Equal(0, NodeProcessRunner.Signal(frozen.Process.Id, NodeProcessRunner.SigStop));
        var frozenFor = System.Diagnostics.Stopwatch.StartNew();
        await Until(async () => Processes.Any(p => p.Key != "n3" && p.Value.Output.Contains("member n3 Suspected", StringComparison.Ordinal))
                || (await Members(admin))["n3"].Status == MemberStatus.Suspect,
            "a member suspects the frozen n3", TimeSpan.FromSeconds(30));
        Assert.Equal(0, NodeProcessRunner.Signal(frozen.Process.Id, NodeProcessRunner.SigCont));
        Console.WriteLine($"n3 frozen for {frozenFor.Elapsed.TotalSeconds:0.0} s before it was suspected");
        await Until(async () => (await Members(admin))["n3"] is { Status: MemberStatus.Alive, Incarnation: > 0 }, "n3 refutes with a higher incarnation", TimeSpan.FromSeconds(30));
        Assert.False(Processes.Values.Any(p => p.Output.Contains("member n3 Dead", StringComparison.Ordinal)), Outputs("n3 was declared dead"));

        // 3. n5 killed with SIGKILL: every other member declares it dead within the suspicion bound.
        var killedAt = System.Diagnostics.Stopwatch.StartNew();
        Processes["n5"].Process.Kill();
        var observers = nodes.Take(Count - 1).Select(n => n.Item1).ToList();
        await Until(() => Task.FromResult(observers.All(id => Processes[id].Output.Contains("member n5 Dead", StringComparison.Ordinal))),
            "n5 declared dead by all", TimeSpan.FromSeconds(90));
        Console.WriteLine($"SIGKILL detected by all four members in {killedAt.Elapsed.TotalSeconds:0.0} s");

        // 4. n5 restarts with the same id: it rejoins with a higher incarnation.
        Processes["n5"].Dispose();
        Processes["n5"] = NodeProcessRunner.Start("run", "--config", path, "--node", "n5");
        await Until(async () => (await Members(admin))["n5"] is { Status: MemberStatus.Alive, Incarnation: > 0 }, "n5 alive again with a higher incarnation", TimeSpan.FromSeconds(90));

        // 5. A process with the same mesh and pool names but a certificate from another CA tries to join
        //    through n1: the TLS handshake refuses it (and n1 logs why); it never enters the member list.
        var rogueDirectory = Directory.CreateDirectory(Path.Combine(_group.Directory.FullName, "rogue"));
        var roguePath = Path.Combine(rogueDirectory.FullName, "mesh.yaml");
        await File.WriteAllTextAsync(roguePath, TestMesh.Yaml([.. nodes, ("rogue", TestMesh.FreePort())], preset: "lan", seed: nodes[0].Item2));
        var rogueMesh = MeshConfigLoader.Load(roguePath);
        new CertificateStore(rogueMesh.CertificatesDirectory).EnsureForMesh(rogueMesh, TimeProvider.System.GetUtcNow());
        Processes["rogue"] = NodeProcessRunner.Start("run", "--config", roguePath, "--node", "rogue");
        await Until(() => Task.FromResult(Processes["n1"].Output.Contains("Refused a TLS peer", StringComparison.Ordinal)
                && Processes["rogue"].Output.Contains("No seed of", StringComparison.Ordinal)),
            "n1 refuses the rogue's handshake and the rogue finds no seed", TimeSpan.FromSeconds(30));
        Assert.DoesNotContain("rogue", (await Members(admin)).Keys);
    }
}
