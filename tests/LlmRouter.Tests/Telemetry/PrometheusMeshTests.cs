using Grpc.Core;
using LlmRouter.Common.Configuration;
using LlmRouter.Common.Identity;
using LlmRouter.Tests.Infrastructure;
using LlmRouter.V1;
using static LlmRouter.Tests.Node.ChatRequests;

namespace LlmRouter.Tests.Telemetry;

/// <summary>
/// A mesh of real processes scraped by a real Prometheus (Debian's, every second), read back through its
/// query API the way an operator's dashboards read it: pool a (a1, serving "local") and pool b behind
/// integrator i1, where three copies serve "shared": b1 sound, b2 cut after two tokens, b3 failing before
/// its first token. The figures are checked against what the clients saw, request by request (outcome,
/// seams, the attempt that served, usage), not against numbers fixed in the test.
/// </summary>
[Collection(ProcessCollection.Name)]
public sealed class PrometheusMeshTests : IDisposable
{
    private const int LocalRequests = 6;
    private const int MinBorderRequests = 12;
    private const int MaxBorderRequests = 150;
    private const double PricePerMillion = 2.5;

    // Panels that read only what goes wrong in ways this test does not hold still for: a backend's queue full,
    // a breaker open at the moment of the query (its 15 s may have ended; its opening is read from the transitions).
    private static readonly string[] OnlyOnTrouble = ["llmrouter_admission_refused_total", "llmrouter_breaker_cooling"];
    private readonly ProcessGroup _group = new("llmrouter-prometheus-");

    public void Dispose() => _group.Dispose();

    [Fact]
    public async Task MeshScrapedByPrometheus_CountsTokensFailoversMembersAndRoutesMatchWhatClientsSaw()
    {
        const string fast = "time_to_first_token: 0ms\ntokens_per_second: 0";
        var (mesh, store) = await _group.StartMeshAsync(BorderMesh.Yaml(
            [("a", [("a1", "local")]), ("b", [("b1", "shared"), ("b2", "shared"), ("b3", "shared")])],
            [("i1", ["a", "b"], [])],
            fast,
            simulatedFor: node => node switch
            {
                "b2" => fast + "\nfail_after_tokens: 2",
                "b3" => fast + "\nfailure_rate: 1",
                _ => null,
            },
            // The faulty copies rank first at i1, so the first requests meet them before their breakers cool them.
            qualityFor: node => node is "b2" or "b3" ? 0.9 : 0.5,
            metrics: true,
            price: PricePerMillion));
        var targets = mesh.AllNodes.Select(n => (n.Id, n.MetricsListen!.Authority))
            .Append(("i1", mesh.FindIntegrator("i1")!.MetricsListen!.Authority)).ToList();
        using var prometheus = await PrometheusServer.StartAsync(_group.Directory, targets);

        using var toA1 = ProcessGroup.Channel(store, mesh.FindNode("a1")!.Listen);
        var admin = new Admin.AdminClient(toA1);
        using var toI1 = ProcessGroup.Channel(store, mesh.FindIntegrator("i1")!.Pools.Single(p => p.Pool == "b").Listen);
        await Eventually.WaitUntil(Eventually.Answered(async () =>
                (await admin.ListMeshModelsAsync(new ListMeshModelsRequest())).Routes.Any(r => r.Route.Model.Id == "shared")
                && (await new Admin.AdminClient(toI1).ListMeshModelsAsync(new ListMeshModelsRequest())).Models.Count(m => m.Id == "shared") == 3),
            "a1 has a route to shared and i1 knows its three copies", () => Task.FromResult(_group.Outputs("not yet")), TimeSpan.FromSeconds(60));
        // The faulty copies rank above b1 at i1 once their load records arrived (a copy whose load is not known yet
        // ranks low): then a1's first request across the border meets them.
        // (Asked on i1's listener of pool a, where a1's requests arrive.)
        using var toI1FromA = ProcessGroup.Channel(store, mesh.FindIntegrator("i1")!.Pools.Single(p => p.Pool == "a").Listen);
        var explained = "";
        await Eventually.WaitUntil(Eventually.Answered(async () =>
            {
                var ranking = await new Admin.AdminClient(toI1FromA).ExplainAsync(new ExplainRequest { Request = Ask("shared", "rank", maxTokens: 8) });
                var eligible = ranking.Candidates.Where(c => c.Excluded.Length == 0).ToList();
                explained = string.Join(", ", ranking.Candidates.Select(c => $"{c.Node}={c.Score:0.000}{(c.LoadKnown ? "" : " (load unknown)")} {c.Excluded}"));
                return eligible.Count == 3 && eligible.All(c => c.LoadKnown) && eligible[2].Node == "b1";
            }),
            "i1 ranks b2 and b3 above b1 with every load known", () => Task.FromResult(explained), TimeSpan.FromSeconds(30));
        await Eventually.WaitUntil(() => prometheus.AllUpAsync(targets.Count), "every process scraped", () => Task.FromResult(prometheus.Output), TimeSpan.FromSeconds(30));

        var router = new Router.RouterClient(toA1);
        var seen = new List<Seen>();
        for (var i = 0; i < LocalRequests; i++)
        {
            seen.Add(await AskAsync(router, "local", i));
        }

        // Across the border until the faulty copies were met (a seam from b2, a failover from b3): they rank first
        // at i1 until their failures count against them, so the first requests meet them; how many it takes depends
        // on their order, so the test waits for the events, bounded in requests.
        var border = 0;
        while (border < MinBorderRequests || !(seen.Any(s => s.Seams > 0) && seen.Any(s => s.Outcome != "failed" && s.Attempt - 1 - s.Seams > 0)))
        {
            Assert.True(border < MaxBorderRequests, $"{MaxBorderRequests} requests across the border never met both faulty copies\n{_group.Outputs("routes")}");
            seen.Add(await AskAsync(router, "shared", border++));
        }

        // The copy that always fails, asked on its own node (mode local: no other candidate) until its breaker opens
        // there; each of these is a request entering b3 that failed.
        using var scrape = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var b3 = mesh.FindNode("b3")!;
        using var toB3 = ProcessGroup.Channel(store, b3.Listen);
        // Three failures within 30 s open a breaker (CopyBreakers), and every one of these fails on b3's backend (or is
        // refused at once if the border's requests opened it already): after three, it is open. The endpoint may
        // answer a scrape from its cache of a moment ago, so the transition is waited for.
        for (var i = 0; i < 3; i++)
        {
            seen.Add(await AskAsync(new Router.RouterClient(toB3), "shared", i, RoutingMode.Local));
        }

        await Eventually.WaitUntil(async () => (await scrape.GetStringAsync(new Uri(b3.MetricsListen!, "/metrics"))).Split('\n').Any(line =>
                line.StartsWith("llmrouter_breaker_transitions_total{", StringComparison.Ordinal) && line.Contains("llmrouter_breaker_state=\"opened\"", StringComparison.Ordinal)),
            "b3's endpoint shows the breaker of its failing backend opened", () => Task.FromResult(_group.Outputs("breaker")), TimeSpan.FromSeconds(30));

        seen.Add(await AskAsync(router, "nowhere", 0));

        var served = seen.Where(s => s.Outcome != "failed").ToList();
        // Every request was served but the one for a model nobody has, which failed before any attempt.
        var seams = served.Sum(s => s.Seams);
        var failovers = served.Sum(s => s.Attempt - 1 - s.Seams);
        Console.WriteLine($"{seen.Count} sent: {string.Join(", ", seen.GroupBy(s => s.Outcome).Select(g => $"{g.Count()} {g.Key}"))}; seams {seams}; failovers {failovers}");

        foreach (var outcome in new[] { "whole", "continued", "failed" })
        {
            await prometheus.ExpectAsync($"sum(llmrouter_requests_total{{llmrouter_hop=\"entry\",llmrouter_outcome=\"{outcome}\"}}) or vector(0)",
                seen.Count(s => s.Outcome == outcome), $"requests entering a1 that ended {outcome}");
        }

        await prometheus.ExpectAsync("sum(llmrouter_continuations_total) or vector(0)", seams, "continuations: the seams clients saw");
        await prometheus.ExpectAsync("sum(llmrouter_failovers_total) or vector(0)", failovers, "failovers: attempts that failed before a token, as the served attempt's number counts them");
        await prometheus.ExpectAsync("sum(llmrouter_route_decisions_total{llmrouter_node=\"a1\",llmrouter_route=\"served_here\"})",
            served.Count(s => s.Model == "local"), "a1 served its own model itself");
        await prometheus.ExpectAsync("sum(llmrouter_route_decisions_total{llmrouter_node=\"a1\",llmrouter_route=\"integrator\"})",
            served.Count(s => s.Model == "shared"), "a1 sent the other pool's model through the integrator");
        await prometheus.ExpectAsync("sum(gen_ai_client_token_usage_sum{gen_ai_operation_name=\"chat\",gen_ai_token_type=\"output\"})",
            served.Sum(s => s.OutputTokens), "output tokens of every served backend call");
        await prometheus.ExpectAsync("sum(gen_ai_client_token_usage_sum{gen_ai_operation_name=\"chat\",gen_ai_token_type=\"input\"})",
            served.Sum(s => s.InputTokens), "input tokens of every served backend call");
        await prometheus.ExpectAsync("sum(llmrouter_requests_total{llmrouter_hop=\"entry\",llmrouter_status=\"NOT_FOUND\"})", 1, "the request for a model nobody serves");
        await prometheus.ExpectAsync("sum(llmrouter_cost_usd_total)", served.Sum(s => s.InputTokens + s.OutputTokens) * PricePerMillion / 1_000_000, "cost: usage at the models' price");
        await prometheus.ExpectAsync("sum(gen_ai_server_time_to_first_token_seconds_count)", served.Count, "a time to first token per served call");
        await Eventually.WaitUntil(async () => await prometheus.ValueAsync("sum(llmrouter_breaker_transitions_total{llmrouter_node=\"b3\",llmrouter_copy=\"b3/sim-b3\",llmrouter_breaker_state=\"opened\"})") >= 1,
            "b3 opened the breaker of its backend that always fails", () => Task.FromResult(prometheus.Output), TimeSpan.FromSeconds(30));
        await prometheus.ExpectAsync("sum(gen_ai_server_time_to_first_token_seconds_bucket{le=\"+Inf\"})", served.Count, "the histogram's last bucket holds every call");
        await prometheus.ExpectAsync("count(count by (le) (gen_ai_server_time_to_first_token_seconds_bucket))", 17, "the GenAI conventions' 16 boundaries and +Inf");

        await prometheus.ExpectAsync("llmrouter_members{llmrouter_node=\"a1\",llmrouter_pool=\"a\",llmrouter_member_state=\"alive\"}", 2, "pool a as a1 sees it");
        await prometheus.ExpectAsync("llmrouter_members{llmrouter_node=\"b1\",llmrouter_pool=\"b\",llmrouter_member_state=\"alive\"}", 4, "pool b as b1 sees it");
        await prometheus.ExpectAsync("sum by (llmrouter_pool) (llmrouter_members{llmrouter_node=\"i1\",llmrouter_member_state=\"alive\"})", 6, "i1 sees both pools");
        var routesIntoA = (await admin.ListMeshModelsAsync(new ListMeshModelsRequest())).Routes.Count(r => r.Integrator == "i1");
        await prometheus.ExpectAsync("llmrouter_border_routes{llmrouter_node=\"i1\",llmrouter_pool=\"a\"}", routesIntoA, "routes i1 advertises into pool a, as a1 holds them");
        await prometheus.ExpectAsync("llmrouter_border_routes{llmrouter_node=\"i1\",llmrouter_pool=\"b\"}", 1, "i1 advertises pool a's one model into pool b");
        await Eventually.WaitUntil(async () => await prometheus.ValueAsync("sum(llmrouter_gossip_messages_total{llmrouter_direction=\"in\"})") > 0,
            "gossip messages counted", () => Task.FromResult(prometheus.Output), TimeSpan.FromSeconds(30));

        await EveryDashboardQueryReadsAsync(prometheus);

        // A member killed outright: the others' views and their own accounts of it.
        _group.Processes["b3"].Process.Kill();
        await prometheus.ExpectAsync("llmrouter_members{llmrouter_node=\"b1\",llmrouter_pool=\"b\",llmrouter_member_state=\"alive\"}", 3, "b1 no longer counts b3 alive");
        // b1 stops counting b3 alive when it marks it suspect (its own probe, or another's accusation it takes).
        await Eventually.WaitUntil(async () => await prometheus.ValueAsync("max_over_time(llmrouter_membership_suspicions_total{llmrouter_node=\"b1\"}[30s])") >= 1,
            "b1 counted a suspicion of b3", () => Task.FromResult(prometheus.Output), TimeSpan.FromSeconds(30));
    }

    /// <summary>
    /// Every query of every dashboard in dashboards/ runs on this Prometheus and reads something: the node
    /// dashboard's for at least one of the processes (a1, b1, b3, i1), the model dashboard's for the model with faulty copies.
    /// </summary>
    private static async Task EveryDashboardQueryReadsAsync(PrometheusServer prometheus)
    {
        // A rate needs two samples in its window: wait until the last series the traffic created has three. A breaker's
        // series can appear after the traffic (half-open when its cooldown ends), so they are waited for too.
        foreach (var series in new[] { "llmrouter_route_decisions_total", "llmrouter_breaker_transitions_total" })
        {
            await Eventually.WaitUntil(async () => await prometheus.ValueAsync($"min(count_over_time({series}[1m]))") >= 3,
                $"every {series} series scraped three times", () => Task.FromResult(prometheus.Output), TimeSpan.FromSeconds(30));
        }
        var queries = 0;
        foreach (var file in Directory.GetFiles(Path.Combine(Common.MeshConfigLoaderTests.RepositoryRoot(), "dashboards"), "*.json"))
        {
            using var dashboard = System.Text.Json.JsonDocument.Parse(await File.ReadAllTextAsync(file));
            foreach (var panel in dashboard.RootElement.GetProperty("panels").EnumerateArray())
            {
                foreach (var target in panel.GetProperty("targets").EnumerateArray())
                {
                    var expr = target.GetProperty("expr").GetString()!;
                    var where = $"{Path.GetFileName(file)}, '{panel.GetProperty("title").GetString()}': {expr}";
                    var read = false;
                    // b3 is the node whose breaker the test opened (i1 may open one too, or not, as copies rank).
                    foreach (var node in new[] { "a1", "b1", "b3", "i1" })
                    {
                        var query = expr.Replace("$__rate_interval", "1m", StringComparison.Ordinal)
                            .Replace("$node", node, StringComparison.Ordinal).Replace("$model", "shared", StringComparison.Ordinal);
                        Assert.DoesNotContain("$", query, StringComparison.Ordinal);
                        read |= (await prometheus.QueryAsync(query)).Count > 0;
                    }

                    Assert.True(read || OnlyOnTrouble.Any(name => expr.Contains(name, StringComparison.Ordinal)), $"{where} read nothing");
                    queries++;
                }
            }
        }

        Assert.True(queries >= 30, $"only {queries} dashboard queries");
    }

    private static async Task<Seen> AskAsync(Router.RouterClient router, string model, int index, RoutingMode mode = RoutingMode.Unspecified)
    {
        var request = Ask(model, $"question {index}", maxTokens: 8);
        request.AllowContinuation = true;
        request.Mode = mode;
        var frames = new List<ChatResponse>();
        try
        {
            using var call = router.Chat(request, deadline: TimeProvider.System.GetUtcNow().UtcDateTime.AddSeconds(60));
            frames = await ReadAll(call);
        }
        catch (RpcException)
        {
            return new Seen(model, "failed", 0, 0, 0, 0);
        }

        var routes = frames.Select(f => f.Route ?? f.Seam?.Route).OfType<RouteInfo>().ToList();
        var completed = frames[^1].Completed;
        return new Seen(model, completed.Continued ? "continued" : "whole", frames.Count(f => f.Seam is not null), (int)routes[^1].Attempt,
            (long)completed.Usage.InputTokens, (long)completed.Usage.OutputTokens);
    }

    /// <summary>What a client saw of one request: how it ended, its seams, the number of the attempt that served it, its usage.</summary>
    private sealed record Seen(string Model, string Outcome, int Seams, int Attempt, long InputTokens, long OutputTokens);
}
