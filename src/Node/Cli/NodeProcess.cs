using System.Diagnostics;
using System.Runtime.InteropServices;
using LlmRouter.Common.Configuration;

namespace LlmRouter.Node.Cli;

/// <summary>A node started as a child process of <c>up</c>, its output going to a log file.</summary>
internal sealed partial class NodeProcess
{
    private const int SigTerm = 15;

    private NodeProcess(NodeConfig config, Process process, string logPath)
    {
        Config = config;
        Process = process;
        LogPath = logPath;
    }

    public NodeConfig Config { get; }

    public Process Process { get; }

    public string LogPath { get; }

    public static NodeProcess Start(MeshConfig mesh, NodeConfig node, string logDirectory)
    {
        var logPath = Path.Combine(logDirectory, node.Id + ".log");
        var start = SelfInvocation();
        foreach (var argument in new[] { "run", "--config", mesh.SourcePath, "--node", node.Id })
        {
            start.ArgumentList.Add(argument);
        }

        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.UseShellExecute = false;
        var process = Process.Start(start) ?? throw new CliException($"cannot start node {node.Id}");
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
        return new NodeProcess(node, process, logPath);
    }

    /// <summary>Asks the node to drain and stop (SIGTERM), as an operator or orchestrator would.</summary>
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
            start.ArgumentList.Add(typeof(NodeProcess).Assembly.Location);
        }

        return start;
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
