using System.Diagnostics;
using System.Globalization;
using LlmRouter.Simulation;

namespace LlmRouter.Benchmarks;

/// <summary>
/// How far over a tenant's cap the mesh admits (issue 13, item 4), in the simulator: N = 10, 100, 1000 members of
/// one pool, the tenant sending from every member at once from the first instant of a cold window, ten times what
/// its cap allows; a requests-per-minute cap and a daily budget. Also the tenant sending to one member only, to
/// show what the pacing costs a tenant whose traffic is not spread.
/// </summary>
internal static class QuotaBenchmark
{
    public static int Run(string[] args)
    {
        var sizes = args.Length > 0 ? args.Select(a => int.Parse(a, CultureInfo.InvariantCulture)).ToArray() : [10, 100, 1000];
        Console.WriteLine("Quotas across the mesh, simulated (LAN preset: gossip 200 ms to 3; spread 2 s; usage published on change once per gossip interval; 400 ms per request)");
        Console.WriteLine();
        Console.WriteLine($"{"N",6} {"limit",9} {"senders",8} {"cap",6} {"offered",8} {"admitted",9} {"over cap",9} {"cap reached",12} {"wall",6}");
        var worst = 0.0;
        foreach (var n in sizes)
        {
            foreach (var (limit, cap) in new[] { ("requests", 600L), ("budget", 600L) })
            {
                foreach (var senders in new int?[] { null, 1 })
                {
                    var wall = Stopwatch.StartNew();
                    var outcome = QuotaSimulation.Run(n, limit, cap, offeredPerSecond: cap * 10 / 60.0, seed: n, senders);
                    if (senders is null)
                    {
                        worst = Math.Max(worst, outcome.OverCap);
                    }

                    Console.WriteLine($"{n,6} {limit,9} {(senders?.ToString(CultureInfo.InvariantCulture) ?? "all"),8} {cap,6} {outcome.Offered,8} {outcome.Admitted,9} {outcome.OverCap,9:+0.0%;-0.0%} {(outcome.CapReachedSeconds is { } s ? $"{s:0.0} s" : "never"),12} {wall.Elapsed.TotalSeconds,5:0}s");
                    Findings.Add("quotas, simulated", $"N = {n}, {limit} cap {cap}, {(senders is null ? "every member sending" : "one member sending")}: admitted over cap",
                        $"{outcome.OverCap:+0.0%;-0.0%}", target: senders is null ? "<= +5%" : "", met: senders is null ? outcome.OverCap <= 0.05 : null);
                }
            }
        }

        Console.WriteLine();
        Console.WriteLine($"Worst over cap with every member sending: {worst:+0.0%;-0.0%}");
        return 0;
    }
}
