using System.Diagnostics;

namespace LlmRouter.Benchmarks;

/// <summary>
/// A program of this build (llm-router-node, or this benchmark in server mode) run as a child process, so
/// its resident memory and CPU time are its own and not the load driver's.
/// </summary>
internal sealed class ChildProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly System.Text.StringBuilder _output = new();

    private ChildProcess(Process process)
    {
        _process = process;
    }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>Starts <c>dotnet ASSEMBLY arguments</c> with an assembly built next to this benchmark.</summary>
    /// <param name="core">Pins the process to this CPU (taskset), so a load driver on the other cores does not preempt it.</param>
    public static ChildProcess Start(string assembly, int? core, params string[] arguments) =>
        StartProgram("dotnet", core, null, [Path.Combine(AppContext.BaseDirectory, assembly), .. arguments]);

    /// <summary>
    /// As <see cref="Start"/>, without profile-guided recompilation (tiers stay: precompiled code, then optimised
    /// code for what runs hot): tiered PGO's choices, made from each process's first moments, made two identical
    /// node processes differ by 5 to 12% in CPU time per answer, more than the costs some benchmarks read (the
    /// telemetry benchmark's 5%). Those compare processes started so.
    /// </summary>
    public static ChildProcess StartWithoutPgo(string assembly, int? core, params string[] arguments) =>
        StartProgram("dotnet", core, null, [Path.Combine(AppContext.BaseDirectory, assembly), .. arguments], WithoutPgo);

    /// <summary>
    /// As <see cref="StartWithoutPgo"/>, with the runtime writing its perf map (<c>/tmp/perf-PID.map</c>, where perf reads it whatever TMPDIR says: the name of
    /// every method it compiles, so <see cref="CpuProfile"/> can name a sample's frames) and its compiled code mapped
    /// once, writable and executable, rather than twice (W^X), whose second mapping perf cannot name.
    /// </summary>
    public static ChildProcess StartProfiled(string assembly, int? core, params string[] arguments) =>
        StartProgram("dotnet", core, null, [Path.Combine(AppContext.BaseDirectory, assembly), .. arguments], Profiled);

    /// <summary>Starts any program (a peer gateway, nginx) the same way: pinned to a core when one is given, its output kept.</summary>
    public static ChildProcess StartProgram(string program, int? core, string? workingDirectory, params string[] arguments) =>
        StartProgram(program, core, workingDirectory, arguments, []);

    private static readonly KeyValuePair<string, string>[] WithoutPgo = [new("DOTNET_TieredPGO", "0")];

    private static readonly KeyValuePair<string, string>[] Profiled = [.. WithoutPgo, new("DOTNET_PerfMapEnabled", "3"), new("DOTNET_PerfMapJitDumpPath", "/tmp"), new("DOTNET_EnableWriteXorExecute", "0")];

    private static ChildProcess StartProgram(string program, int? core, string? workingDirectory, string[] arguments, IEnumerable<KeyValuePair<string, string>> environment)
    {
        var start = new ProcessStartInfo(core is null ? program : "taskset") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (workingDirectory is not null)
        {
            start.WorkingDirectory = workingDirectory;
        }

        if (core is { } cpu)
        {
            start.ArgumentList.Add("-c");
            start.ArgumentList.Add(cpu.ToString(System.Globalization.CultureInfo.InvariantCulture));
            start.ArgumentList.Add(program);
        }

        // The GC the node and integrator ship with (workstation, concurrent), for every process alike.
        start.Environment["DOTNET_gcServer"] = "0";
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException($"cannot start {program}");
        var child = new ChildProcess(process);
        process.OutputDataReceived += (_, e) => child.Append(e.Data);
        process.ErrorDataReceived += (_, e) => child.Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    public static ChildProcess StartNode(string config, string node, int? core = null) => Start("llm-router-node.dll", core, "run", "--config", config, "--node", node);

    /// <summary>Resident memory (VmRSS) in MiB, from /proc.</summary>
    public double ResidentMiB()
    {
        foreach (var line in File.ReadLines($"/proc/{Id}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                return double.Parse(line["VmRSS:".Length..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) / 1024;
            }
        }

        throw new InvalidOperationException($"no VmRSS in /proc/{Id}/status");
    }

    /// <summary>CPU time (user + system) the process has used so far.</summary>
    public TimeSpan CpuTime()
    {
        _process.Refresh();
        return _process.TotalProcessorTime;
    }

    public void Kill()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }
    }

    public async ValueTask DisposeAsync()
    {
        Kill();
        await _process.WaitForExitAsync();
        _process.Dispose();
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            // Keep the tail only: a long run at information level writes a line per request.
            if (_output.Length > 1 << 20)
            {
                _output.Remove(0, _output.Length / 2);
            }

            _output.AppendLine(line);
        }
    }
}
