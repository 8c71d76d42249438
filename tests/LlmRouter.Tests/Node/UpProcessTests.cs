using System.Text.RegularExpressions;
using LlmRouter.Tests.Infrastructure;

namespace LlmRouter.Tests.Node;

/// <summary>
/// <c>up</c> owns the processes it starts (two nodes in two pools and the integrator between them): a signal
/// to it drains and stops every one before it exits, and if it is killed outright they drain and exit on
/// their own; none outlives it.
/// </summary>
[Collection(ProcessCollection.Name)]
public sealed partial class UpProcessTests : IDisposable
{
    private const int SigInt = 2;
    private const int SigKill = 9;
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("llmrouter-up-");
    private NodeProcessRunner? _up;

    public void Dispose()
    {
        _up?.Dispose();
        _directory.Delete(recursive: true);
    }

    [Theory]
    [InlineData(NodeProcessRunner.SigTerm)]
    [InlineData(SigInt)]
    public async Task Up_SignalledWhileTheMeshKeepsRunning_DrainsAndStopsEveryProcessItStarted(int signal)
    {
        var children = await StartUpAsync();

        Assert.Equal(0, NodeProcessRunner.Signal(_up!.Process.Id, signal));
        var exit = await _up.WaitForExitAsync(TimeSpan.FromSeconds(60));

        Assert.Contains("draining and stopping the 3 process(es) up started", _up.Output, StringComparison.Ordinal);
        Assert.Equal(0, exit);
        Assert.All(children, child => Assert.False(Running(child.Pid), $"{child.Name} (pid {child.Pid}) outlived up"));
    }

    [Fact]
    public async Task Up_KilledOutright_ItsChildrenDrainAndExitOnTheirOwn()
    {
        var children = await StartUpAsync();

        Assert.Equal(0, NodeProcessRunner.Signal(_up!.Process.Id, SigKill));
        await _up.WaitForExitAsync(TimeSpan.FromSeconds(10));

        await Eventually.WaitUntil(() => children.All(child => !Running(child.Pid)), "every child of the killed up exits",
            () => string.Join(", ", children.Where(child => Running(child.Pid)).Select(child => $"{child.Name} (pid {child.Pid}) still running")),
            TimeSpan.FromSeconds(30));
    }

    /// <summary>Starts up --keep-running on a mesh of its own and waits until it keeps the mesh running; returns its children.</summary>
    private async Task<List<(string Name, int Pid)>> StartUpAsync()
    {
        var path = Path.Combine(_directory.FullName, "mesh.yaml");
        await File.WriteAllTextAsync(path, BorderMesh.Yaml([("a", [("a1", "m-a")]), ("b", [("b1", "m-b")])], [("i1", ["a", "b"], [])],
            "time_to_first_token: 0ms\ntokens_per_second: 0"));
        // The entry node's own model: what is under test is who owns the processes, not routing across the border.
        _up = NodeProcessRunner.StartAsInATerminal("up", "--config", path, "--keep-running", "--model", "m-a", "--ask", "hello");
        await Eventually.WaitUntil(() => _up.Output.Contains("nodes keep running", StringComparison.Ordinal) || _up.Process.HasExited,
            "up starts the mesh, answers and keeps it running", () => _up.Output, TimeSpan.FromSeconds(120));
        Assert.False(_up.Process.HasExited, _up.Output);

        var children = Started().Matches(_up.Output).Select(m => (m.Groups["name"].Value, int.Parse(m.Groups["pid"].Value, System.Globalization.CultureInfo.InvariantCulture))).ToList();
        Assert.Equal(["node a1", "node b1", "integrator i1"], children.Select(c => c.Item1));
        Assert.All(children, child => Assert.True(Running(child.Item2), $"{child.Item1} is not running"));
        return children;
    }

    /// <summary>Whether a process runs: it exists and is not a zombie waiting for a parent that will never reap it.</summary>
    private static bool Running(int pid)
    {
        var stat = $"/proc/{pid}/stat";
        try
        {
            var text = File.ReadAllText(stat);
            return text[(text.LastIndexOf(')') + 2)..].FirstOrDefault() is not ('Z' or 'X');
        }
        catch (IOException)
        {
            return false;
        }
    }

    [GeneratedRegex(@"started (?<name>(node|integrator) \S+) .*?pid (?<pid>\d+)")]
    private static partial Regex Started();
}
