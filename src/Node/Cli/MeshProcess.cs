using System.Diagnostics;
using System.Runtime.InteropServices;
using LlmRouter.Common.Configuration;
using LlmRouter.Common.Hosting;

namespace LlmRouter.Node.Cli;

/// <summary>
/// A node or integrator started as a child process of <c>up</c>, its output going to a log file, owned by
/// <c>up</c>: it runs with <c>--exit-with-parent</c> and a pipe from <c>up</c> on its standard input, which
/// the operating system closes when <c>up</c> ends, however it ends; the child then drains and exits.
/// </summary>
internal sealed partial class MeshProcess
{
    private const int SigTerm = 15;

    private MeshProcess(string description, string id, Uri listen, Process process, string logPath)
    {
        Description = description;
        Id = id;
        Listen = listen;
        Process = process;
        LogPath = logPath;
    }

    /// <summary>"node a1" or "integrator i1".</summary>
    public string Description { get; }

    public string Id { get; }

    /// <summary>An address its health can be checked on.</summary>
    public Uri Listen { get; }

    public Process Process { get; }

    public string LogPath { get; }

    public static MeshProcess StartNode(MeshConfig mesh, NodeConfig node, string logDirectory) =>
        Start(SelfInvocation(), ["run", "--config", mesh.SourcePath, "--node", node.Id, MeshProcessRun.ExitWithParent], $"node {node.Id}", node.Id, node.Listen, logDirectory);

    /// <summary>Starts <c>llm-router-integrator</c>, which the build puts next to this program.</summary>
    public static MeshProcess StartIntegrator(MeshConfig mesh, IntegratorConfig integrator, string logDirectory) =>
        Start(IntegratorInvocation(), ["run", "--config", mesh.SourcePath, "--integrator", integrator.Id, MeshProcessRun.ExitWithParent], $"integrator {integrator.Id}", integrator.Id,
            integrator.Pools[0].Listen, logDirectory);

    private static MeshProcess Start(ProcessStartInfo start, string[] arguments, string description, string id, Uri listen, string logDirectory)
    {
        var logPath = Path.Combine(logDirectory, id + ".log");
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        // The pipe that ties the child's life to this process (Process keeps its writing end open).
        start.RedirectStandardInput = true;
        start.UseShellExecute = false;
        var process = Process.Start(start) ?? throw new CliException($"cannot start {description}");
        var log = new StreamWriter(logPath) { AutoFlush = true };
        var gate = new Lock();
        void Write(string? line)
        {
            if (line is not null)
            {
                lock (gate)
                {
                    log.WriteLine(line);
                }
            }
        }

        process.OutputDataReceived += (_, e) => Write(e.Data);
        process.ErrorDataReceived += (_, e) => Write(e.Data);
        process.Exited += (_, _) => process.WaitForExit();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return new MeshProcess(description, id, listen, process, logPath);
    }

    /// <summary>Asks the process to drain and stop (SIGTERM), as an operator or orchestrator would.</summary>
    public void Terminate()
    {
        if (Process.HasExited)
        {
            return;
        }

        if (OperatingSystem.IsWindows() || Kill(Process.Id, SigTerm) != 0)
        {
            Process.Kill(entireProcessTree: true);
        }
    }

    public string ReadLog()
    {
        using var stream = new FileStream(LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    /// <summary>The command that runs this same program: the apphost, or dotnet with this assembly.</summary>
    private static ProcessStartInfo SelfInvocation()
    {
        var host = Environment.ProcessPath ?? throw new CliException("cannot tell which program is running");
        var start = new ProcessStartInfo(host);
        if (string.Equals(Path.GetFileNameWithoutExtension(host), "dotnet", StringComparison.OrdinalIgnoreCase))
        {
            start.ArgumentList.Add(typeof(MeshProcess).Assembly.Location);
        }

        return start;
    }

    private static ProcessStartInfo IntegratorInvocation()
    {
        var directory = AppContext.BaseDirectory;
        var apphost = Path.Combine(directory, OperatingSystem.IsWindows() ? "llm-router-integrator.exe" : "llm-router-integrator");
        if (File.Exists(apphost))
        {
            return new ProcessStartInfo(apphost);
        }

        var assembly = Path.Combine(directory, "llm-router-integrator.dll");
        if (!File.Exists(assembly))
        {
            throw new CliException($"llm-router-integrator is not next to this program in {directory}; build src/Integrator");
        }

        var start = new ProcessStartInfo("dotnet");
        start.ArgumentList.Add(assembly);
        return start;
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
