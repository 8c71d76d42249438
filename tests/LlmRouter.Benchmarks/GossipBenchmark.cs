using System.Diagnostics;
using System.Globalization;
using LlmRouter.Common.Gossip;
using LlmRouter.Simulation;
using LlmRouter.V1;

namespace LlmRouter.Benchmarks;

/// <summary>
/// Membership figures from the deterministic simulator (virtual time, so they do not depend on this
/// machine's speed): update convergence, crash detection, false positives under loss and stalls, and
/// bandwidth per member, for N = 10, 100 and 1000, against memberlist's and Serf's published targets.
/// </summary>
internal static class GossipBenchmark
{
    private static readonly TimeSpan Step = TimeSpan.FromMilliseconds(10);

    public static int Run(string[] args)
    {
        var sizes = args.Length > 0 ? args.Select(a => int.Parse(a, CultureInfo.InvariantCulture)).ToArray() : [10, 100, 1000];
        Console.WriteLine("Gossip (SWIM + Lifeguard, LAN preset: probe 1 s, gossip 200 ms to 3, retransmit 4, push-pull 30 s), simulated 1-5 ms latency");
        Console.WriteLine();
        Console.WriteLine($"{"N",6} {"join converged",15} {"update to 99.99%",17} {"crash detected (median, max)",30} {"bytes/s/member",15} {"of which push-pull",19} {"wall",7}");
        foreach (var n in sizes)
        {
            var wall = Stopwatch.StartNew();
            var row = Measure(n);
            Findings.Add("gossip, simulated", $"N = {n}: join, update to 99.99%, crash dead at all (median), bytes/s per member",
                $"{Seconds(row.Join)}, {Seconds(row.Update)}, {Seconds(row.DetectMedian)}, {row.BytesPerSecond:0} B/s",
                target: n switch { 1000 => "update <= 2.5 s", 100 => "detection <= 12 s median", _ => "" },
                met: n switch { 1000 => row.Update <= TimeSpan.FromSeconds(2.5), 100 => row.DetectMedian <= TimeSpan.FromSeconds(12), _ => null });
            Console.WriteLine($"{n,6} {Seconds(row.Join),15} {Seconds(row.Update),17} {Seconds(row.DetectMedian) + " , " + Seconds(row.DetectMax),30} {row.BytesPerSecond,15:0} {row.PushPullBytesPerSecond,19:0} {wall.Elapsed.TotalSeconds,6:0}s");
        }

        Console.WriteLine();
        var falsePositives = FalsePositives(100, TimeSpan.FromMinutes(10));
        Findings.Add("gossip, simulated", "false positives (N = 100, 10 min, 5% loss, a member stalled 2 s in 10)", $"{falsePositives.Deaths} declared dead", target: "0", met: falsePositives.Deaths == 0);
        Console.WriteLine($"False positives, N=100, 10 simulated minutes, 5% message loss, one member stalled 2 s of every 10 s: {falsePositives.Deaths} member(s) declared dead, {falsePositives.Suspicions} suspicion(s) raised and refuted");
        Console.WriteLine();
        Console.WriteLine("Targets: update to 99.99% of 1000 members <= 2.5 s; crash detected at N=100 <= 12 s median; zero false positives; bytes/s/member flat from 10 to 1000.");
        return 0;
    }

    private static string Seconds(TimeSpan? value) => value is { } v ? $"{v.TotalSeconds:0.00} s" : "never";

    private sealed record Row(TimeSpan? Join, TimeSpan? Update, TimeSpan? DetectMedian, TimeSpan? DetectMax, double BytesPerSecond, double PushPullBytesPerSecond);

    private static Row Measure(int n)
    {
        var network = new SimulatedNetwork(seed: n, MembershipOptions.Lan);
        var members = network.AddPool(n);
        var join = network.Clock.RunUntil(() => members.All(o => o.Membership.Count == n && o.Membership.Members.All(m => m.Status == MemberStatus.Alive)),
            TimeSpan.FromMinutes(5), TimeSpan.FromMilliseconds(100));

        // Let the join's updates finish their retransmits, then measure one new update.
        network.Clock.RunFor(TimeSpan.FromSeconds(20));
        var publisher = members[n / 2];
        var start = network.Clock.Now;
        publisher.Membership.PublishModels([new ModelInfo { Id = "bench-model", Node = publisher.Id }]);
        var needed = (int)Math.Ceiling((n - 1) * 0.9999);
        var reached = network.Clock.RunUntil(
            () => members.Count(m => m != publisher && m.Membership.Find(publisher.Id)?.Models is not null) >= needed,
            TimeSpan.FromSeconds(30), Step);
        var update = reached - start;

        // Steady-state bandwidth over one minute, split into push-pull and the rest.
        network.Clock.RunFor(TimeSpan.FromSeconds(10));
        var bytesBefore = network.BytesDelivered;
        var pushPullBefore = network.PushPullBytes;
        var window = TimeSpan.FromSeconds(60);
        network.Clock.RunFor(window);
        var perSecond = (network.BytesDelivered - bytesBefore) / window.TotalSeconds / n;
        var pushPullPerSecond = (network.PushPullBytes - pushPullBefore) / window.TotalSeconds / n;

        var detections = new List<TimeSpan>();
        var trials = n >= 1000 ? 3 : 5;
        for (var trial = 0; trial < trials; trial++)
        {
            var victim = members[(trial * 7 + 1) % n];
            var observers = members.Where(m => !m.Crashed && m != victim).ToList();
            var crashedAt = network.Clock.Now;
            victim.Crash();
            var dead = network.Clock.RunUntil(() => observers.All(o => o.StatusOf(victim.Id) is MemberStatus.Dead or MemberStatus.Unspecified),
                TimeSpan.FromMinutes(3), TimeSpan.FromMilliseconds(100));
            if (dead is { } at)
            {
                detections.Add(at - crashedAt);
            }

            network.Clock.RunFor(TimeSpan.FromSeconds(5));
        }

        detections.Sort();
        return new Row(join, update, detections.Count > 0 ? detections[detections.Count / 2] : null, detections.Count > 0 ? detections[^1] : null,
            perSecond, pushPullPerSecond);
    }

    private static (int Deaths, int Suspicions) FalsePositives(int n, TimeSpan duration)
    {
        var network = new SimulatedNetwork(seed: 4242, MembershipOptions.Lan);
        var members = network.AddPool(n);
        network.Clock.RunUntil(() => members.All(o => o.Membership.Count == n), TimeSpan.FromMinutes(2), TimeSpan.FromMilliseconds(100));
        network.Clock.RunFor(TimeSpan.FromSeconds(20));
        network.LossRate = 0.05;
        var deaths = 0;
        var suspicions = 0;
        foreach (var member in members)
        {
            member.Membership.Changed += e =>
            {
                deaths += e.Kind == MemberEventKind.Dead ? 1 : 0;
                suspicions += e.Kind == MemberEventKind.Suspected ? 1 : 0;
            };
        }

        var stalled = members[n / 3];
        var end = network.Clock.Now + duration;
        while (network.Clock.Now < end)
        {
            stalled.Stall(TimeSpan.FromSeconds(2));
            network.Clock.RunFor(TimeSpan.FromSeconds(10));
        }

        return (deaths, suspicions);
    }
}
