using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace LlmRouter.Tests.Infrastructure;

/// <summary>Runs the real llm-router-node or llm-router-integrator program (built beside the tests), or a tool the tests drive, as a child process.</summary>
internal sealed partial class NodeProcessRunner : IDisposable
{
    private readonly StringBuilder _output = new();
    private readonly Lock _lock = new();

    private NodeProcessRunner(Process process)
    {
        Process = process;
    }

    public Process Process { get; }

    public string Output
    {
        get
        {
            lock (_lock)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>Starts llm-router-node with these arguments.</summary>
    public static NodeProcessRunner Start(params string[] arguments) => StartProgram("llm-router-node.dll", arguments);

    /// <summary>Starts llm-router-integrator with these arguments.</summary>
    public static NodeProcessRunner StartIntegrator(params string[] arguments) => StartProgram("llm-router-integrator.dll", arguments);

    /// <summary>
    /// Starts llm-router-node as a terminal's foreground command is: with SIGINT and SIGQUIT at their default
    /// disposition. A test host started in the background of a non-interactive shell (as CI scripts may start
    /// it) ignores them, and an ignored signal stays ignored in every process it starts.
    /// </summary>
    public static NodeProcessRunner StartAsInATerminal(params string[] arguments) => StartProgram("llm-router-node.dll", arguments, defaultSignals: true);

    private static NodeProcessRunner StartProgram(string assembly, string[] arguments, bool defaultSignals = false)
    {
        var start = new ProcessStartInfo(defaultSignals ? "python3" : "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (defaultSignals)
        {
            // Python restores the default dispositions, then becomes dotnet (exec keeps the process id).
            start.ArgumentList.Add("-c");
            start.ArgumentList.Add("import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); signal.signal(signal.SIGQUIT, signal.SIG_DFL); os.execvp(sys.argv[1], sys.argv[1:])");
            start.ArgumentList.Add("dotnet");
        }

        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, assembly));
        return Start(start, arguments);
    }

    /// <summary>Starts another program the tests drive (Prometheus), its output kept as a node's is.</summary>
    public static NodeProcessRunner StartTool(string program, params string[] arguments) => Start(new ProcessStartInfo(program)
    {
        RedirectStandardOutput = true,
        RedirectStandardError = true,
        UseShellExecute = false,
    }, arguments);

    private static NodeProcessRunner Start(ProcessStartInfo start, string[] arguments)
    {
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException($"cannot start {start.FileName}");
        var runner = new NodeProcessRunner(process);
        process.OutputDataReceived += (_, e) => runner.Append(e.Data);
        process.ErrorDataReceived += (_, e) => runner.Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return runner;
    }

    public const int SigTerm = 15;
    public const int SigStop = 19;
    public const int SigCont = 18;

    public void Terminate() => Assert.Equal(0, Kill(Process.Id, SigTerm));

    public static int Signal(int pid, int signal) => Kill(pid, signal);

    public async Task<int> WaitForExitAsync(TimeSpan bound)
    {
        using var timeout = new CancellationTokenSource(bound);
        try
        {
            await Process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"the process did not exit within {bound.TotalSeconds:0}s; output:\n{Output}");
        }

        Process.WaitForExit();
        return Process.ExitCode;
    }

    public void Dispose()
    {
        if (!Process.HasExited)
        {
            Process.Kill(entireProcessTree: true);
        }

        Process.Dispose();
    }

    private void Append(string? line)
    {
        if (line is not null)
        {
            lock (_lock)
            {
                _output.AppendLine(line);
            }
        }
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
