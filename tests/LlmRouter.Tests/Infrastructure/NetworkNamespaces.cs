using System.Diagnostics;
using System.Text;

namespace LlmRouter.Tests.Infrastructure;

/// <summary>
/// Real subnets on one machine (iproute2, needs root): two subnet namespaces, A and B, each a bridge with
/// its nodes' addresses, and one namespace per integrator holding a veth link into each subnet. A and B
/// have no route to each other; integrators do not forward packets. Every name carries a tag unique to
/// this run, and <see cref="DisposeAsync"/> kills what runs inside and deletes exactly these namespaces,
/// also when the test failed.
/// </summary>
internal sealed class NetworkNamespaces : IAsyncDisposable
{
    private readonly List<string> _created = [];

    private NetworkNamespaces(string tag)
    {
        Tag = tag;
    }

    public string Tag { get; }

    public string SubnetA => $"{Tag}-a";

    public string SubnetB => $"{Tag}-b";

    public string Integrator(string id) => $"{Tag}-{id}";

    /// <param name="subnetA">Addresses of subnet A's nodes (10.x.y.z), all on A's bridge.</param>
    /// <param name="integrators">Each integrator's id and its address in A and in B.</param>
    public static async Task<NetworkNamespaces> CreateAsync(
        IReadOnlyList<string> subnetA, IReadOnlyList<string> subnetB, IReadOnlyList<(string Id, string InA, string InB)> integrators)
    {
        if (!IsRoot())
        {
            throw new InvalidOperationException("the network namespace tests need root (ip netns); CI runs them as root");
        }

        var namespaces = new NetworkNamespaces("lr" + Convert.ToHexString(Guid.NewGuid().ToByteArray())[..6].ToLowerInvariant());
        try
        {
            foreach (var (subnet, addresses) in new[] { (namespaces.SubnetA, subnetA), (namespaces.SubnetB, subnetB) })
            {
                await namespaces.AddNamespaceAsync(subnet);
                await IpAsync("-n", subnet, "link", "add", "br0", "type", "bridge");
                await IpAsync("-n", subnet, "link", "set", "br0", "up");
                foreach (var address in addresses)
                {
                    await IpAsync("-n", subnet, "addr", "add", $"{address}/24", "dev", "br0");
                }
            }

            foreach (var (id, inA, inB) in integrators)
            {
                var own = namespaces.Integrator(id);
                await namespaces.AddNamespaceAsync(own);
                foreach (var (subnet, side, address) in new[] { (namespaces.SubnetA, "a", inA), (namespaces.SubnetB, "b", inB) })
                {
                    // ID-a in the integrator's namespace, paired with ID in the subnet's namespace (on its bridge).
                    await IpAsync("link", "add", $"{namespaces.Tag}{id}{side}", "netns", own, "type", "veth", "peer", "name", $"{namespaces.Tag}{id}{side}p", "netns", subnet);
                    await IpAsync("-n", own, "link", "set", $"{namespaces.Tag}{id}{side}", "name", $"{id}-{side}");
                    await IpAsync("-n", own, "addr", "add", $"{address}/24", "dev", $"{id}-{side}");
                    await IpAsync("-n", own, "link", "set", $"{id}-{side}", "up");
                    await IpAsync("-n", subnet, "link", "set", $"{namespaces.Tag}{id}{side}p", "master", "br0");
                    await IpAsync("-n", subnet, "link", "set", $"{namespaces.Tag}{id}{side}p", "up");
                }
            }
        }
        catch
        {
            await namespaces.DisposeAsync();
            throw;
        }

        return namespaces;
    }

    /// <summary>Takes an integrator's link into subnet B down or up (the border cut and its repair).</summary>
    public Task SetBorderLinkAsync(string integrator, bool up) =>
        IpAsync("-n", Integrator(integrator), "link", "set", $"{integrator}-b", up ? "up" : "down");

    /// <summary>Whether the namespace has a route to the address (ip route get fails without one).</summary>
    public async Task<bool> HasRouteAsync(string ns, string address) =>
        (await RunAsync("ip", ["-n", ns, "route", "get", address], TimeSpan.FromSeconds(10))).ExitCode == 0;

    /// <summary>Runs a program inside a namespace and returns its exit code and output (stdout then stderr).</summary>
    public static Task<(int ExitCode, string Output)> ExecAsync(string ns, string program, IEnumerable<string> arguments, TimeSpan bound) =>
        RunAsync("ip", ["netns", "exec", ns, program, .. arguments], bound);

    /// <summary>Starts a long-running program inside a namespace (ip netns exec replaces itself with it: the pid is the program's).</summary>
    public static Process Start(string ns, string program, IEnumerable<string> arguments, StringBuilder output)
    {
        var start = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in new[] { "netns", "exec", ns, program }.Concat(arguments))
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException($"cannot start {program} in {ns}");
        DataReceivedEventHandler append = (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (output)
                {
                    output.AppendLine(e.Data);
                }
            }
        };
        process.OutputDataReceived += append;
        process.ErrorDataReceived += append;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var ns in _created)
        {
            // Whatever still runs inside dies with its namespace's processes; then the namespace (and its links) go.
            var pids = await RunAsync("ip", ["netns", "pids", ns], TimeSpan.FromSeconds(10));
            foreach (var pid in pids.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (int.TryParse(pid, out var id))
                {
                    NodeProcessRunner.Signal(id, 9);
                }
            }

            await RunAsync("ip", ["netns", "del", ns], TimeSpan.FromSeconds(10));
        }

        _created.Clear();
    }

    private async Task AddNamespaceAsync(string ns)
    {
        await IpAsync("netns", "add", ns);
        _created.Add(ns);
        await IpAsync("-n", ns, "link", "set", "lo", "up");
    }

    private static async Task IpAsync(params string[] arguments)
    {
        var (exit, output) = await RunAsync("ip", arguments, TimeSpan.FromSeconds(10));
        if (exit != 0)
        {
            throw new InvalidOperationException($"ip {string.Join(' ', arguments)} failed ({exit}): {output}");
        }
    }

    public static async Task<(int ExitCode, string Output)> RunAsync(string program, IEnumerable<string> arguments, TimeSpan bound)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"cannot start {program}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(bound);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', arguments)} did not finish within {bound.TotalSeconds:0}s");
        }

        return (process.ExitCode, await stdout + await stderr);
    }

    private static bool IsRoot() => File.ReadAllText("/proc/self/status").Split('\n')
        .FirstOrDefault(line => line.StartsWith("Uid:", StringComparison.Ordinal))?.Split('\t', StringSplitOptions.RemoveEmptyEntries).ElementAtOrDefault(1) == "0";
}
