namespace LlmRouter.Tests.Infrastructure;

/// <summary>
/// The real processes of one test and the temporary directory their mesh file and certificates live in:
/// when the test ends every process still running is killed and the directory removed.
/// </summary>
internal sealed class ProcessGroup(string prefix) : IDisposable
{
    public DirectoryInfo Directory { get; } = System.IO.Directory.CreateTempSubdirectory(prefix);

    /// <summary>The processes by id (node or integrator).</summary>
    public Dictionary<string, NodeProcessRunner> Processes { get; } = [];

    /// <summary>A heading and every process's output so far, for a failure message.</summary>
    public string Outputs(string heading) =>
        heading + "; process output:\n" + string.Join("\n", Processes.Select(p => $"--- {p.Key} ---\n{p.Value.Output}"));

    public void Dispose()
    {
        foreach (var process in Processes.Values)
        {
            process.Dispose();
        }

        Directory.Delete(recursive: true);
    }
}
