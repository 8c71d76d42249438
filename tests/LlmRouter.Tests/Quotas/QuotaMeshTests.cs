using System.Collections.Concurrent;
using System.Globalization;
using Grpc.Core;
using LlmRouter.Tests.Infrastructure;
using LlmRouter.V1;
using static LlmRouter.Tests.Node.ChatRequests;

namespace LlmRouter.Tests.Quotas;

/// <summary>
/// A tenant's daily budget held across a mesh of real processes with no central store: pool a (a1, a2, a3) and
/// pool b (b1, b2) joined by integrator i1, the tenant hammering every node of both pools at once until each
/// refuses it as over budget. What the clients were served is priced from the usage they read, and compared with
/// the budget; every node's Admin Usage then reports the same spend, each side counting the other pool's share
/// through the integrator. (How close to the budget the mesh stays is measured by <c>llmrouter-bench quotas</c>;
/// here the bound is loose enough for any machine, the property is that the cap holds mesh-wide.)
/// </summary>
[Collection(ProcessCollection.Name)]
public sealed class QuotaMeshTests : IDisposable
{
    private const double PricePerMillion = 1000;
    private const decimal Budget = 2m;
    private const int LoopsPerNode = 3;
    private static readonly string[] Nodes = ["a1", "a2", "a3", "b1", "b2"];
    private readonly ProcessGroup _group = new("llmrouter-quotas-");

    public void Dispose() => _group.Dispose();

    [Fact]
    public async Task TinyBudget_HammeredFromEveryNodeOfBothPools_HeldAcrossTheMesh_AndReportedAlikeEverywhere()
    {
        await AwayFromMidnightAsync();
        var access = $"""
            access:
              anonymous: team
              operators: [client]
            tenants:
              - name: team
                clients: [client]
                limits:
                  budget_per_day_usd: {Budget.ToString(CultureInfo.InvariantCulture)}

            """;
        var (mesh, store) = await _group.StartMeshAsync(BorderMesh.Yaml(
            [("a", [("a1", "model-a"), ("a2", "model-a"), ("a3", "model-a")]), ("b", [("b1", "model-b"), ("b2", "model-b")])],
            [("i1", ["a", "b"], [])],
            "time_to_first_token: 0ms\ntokens_per_second: 0",
            price: PricePerMillion,
            access: access));
        var channels = Nodes.ToDictionary(id => id, id => ProcessGroup.Channel(store, mesh.FindNode(id)!.Listen));
        try
        {
            // Every member of both pools alive everywhere, and the integrator's usage relay in place (its routes known).
            await Eventually.WaitUntil(Eventually.Answered(async () =>
                {
                    foreach (var (id, channel) in channels)
                    {
                        var members = await new Admin.AdminClient(channel).ListMembersAsync(new ListMembersRequest());
                        if (members.Members.Count(m => m.Status == MemberStatus.Alive) != (id.StartsWith('a') ? 4 : 3))
                        {
                            return false;
                        }
                    }

                    return (await new Admin.AdminClient(channels["a1"]).ListMeshModelsAsync(new ListMeshModelsRequest())).Routes.Any(r => r.Route.Model.Id == "model-b");
                }),
                "every member alive in both pools and a route across the border", () => Task.FromResult(_group.Outputs("members")), TimeSpan.FromSeconds(60));

            // And every node counts the members beyond the border (the integrator's sums of the other pool arrived):
            // four in pool a (the integrator among them) and two in b, or three in b and three in a.
            foreach (var (id, channel) in channels)
            {
                ulong sharing = 0;
                await Eventually.WaitUntil(Eventually.Answered(async () =>
                        (sharing = (await new Admin.AdminClient(channel).UsageAsync(new UsageRequest { Tenant = "team" })).Tenants.Single().SharingMembers) == 6),
                    $"{id} counts the whole mesh", () => Task.FromResult($"{sharing} members"), TimeSpan.FromSeconds(30));
            }

            var served = new ConcurrentBag<decimal>();
            var refusals = new ConcurrentBag<RpcException>();
            var failures = new ConcurrentBag<RpcException>();
            using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(120));
            await Task.WhenAll(Nodes.SelectMany(id => Enumerable.Range(0, LoopsPerNode).Select(loop =>
                HammerAsync(new Router.RouterClient(channels[id]), id.StartsWith('a') ? "model-a" : "model-b", served, refusals, failures, bound.Token))));
            Assert.False(bound.IsCancellationRequested, $"not every node refused the tenant as over budget within 120 s\n{_group.Outputs("hammer")}");

            var spent = served.Sum();
            var over = (double)((spent - Budget) / Budget);
            Console.WriteLine($"budget {Budget} USD; admitted {served.Count} requests costing {spent} USD ({over.ToString("P1", CultureInfo.InvariantCulture)} over the budget)");
            Assert.True(spent >= Budget, $"the mesh refused the tenant with {spent} of {Budget} USD spent");
            Assert.True(spent <= Budget * 1.5m, $"the mesh let the tenant spend {spent} of {Budget} USD ({over.ToString("P1", CultureInfo.InvariantCulture)} over)");

            // The refusal names the limit, what the mesh spent, the setting, and frees with the next UTC day.
            var refusal = refusals.First();
            Assert.Equal(StatusCode.ResourceExhausted, refusal.StatusCode);
            Assert.Contains("tenant 'team' spent its budget_per_day_usd (2;", refusal.Status.Detail, StringComparison.Ordinal);
            Assert.Contains("tenants[team].limits.budget_per_day_usd in", refusal.Status.Detail, StringComparison.Ordinal);
            // (Read a little after the refusal, so the time left is a little shorter than it was then.)
            var untilTomorrow = TimeProvider.System.GetUtcNow().UtcDateTime.Date.AddDays(1) - TimeProvider.System.GetUtcNow().UtcDateTime;
            var pushback = TimeSpan.FromMilliseconds(long.Parse(refusal.Trailers.GetValue("grpc-retry-pushback-ms")!, CultureInfo.InvariantCulture));
            Assert.InRange(pushback, untilTomorrow, untilTomorrow + TimeSpan.FromMinutes(3));

            // Every node reports what the clients were served, its own pool per member and the other pool as one sum. (A
            // request admitted that failed on a loaded machine, a deadline say, is counted too, and what it delivered.)
            foreach (var (id, channel) in channels)
            {
                var report = new TenantUsageReport();
                await Eventually.WaitUntil(Eventually.Answered(async () =>
                    {
                        report = (await new Admin.AdminClient(channel).UsageAsync(new UsageRequest { Tenant = "team" })).Tenants.Single();
                        var reported = (decimal)report.Day.SpendUsd;
                        return report.Day.InFlight == 0 && report.Day.Requests == (ulong)(served.Count + failures.Count)
                            && (failures.IsEmpty ? Math.Abs(reported - spent) < 0.000001m : reported >= spent - 0.000001m);
                    }),
                    $"{id} reports the {served.Count + failures.Count} requests admitted and {spent} USD spent", () => Task.FromResult(report.ToString()), TimeSpan.FromSeconds(30));
                Assert.Equal(Budget, (decimal)report.Limits.BudgetPerDayUsd);
                Assert.Contains(report.Members, m => m.Member == (id.StartsWith('a') ? "pool:b" : "pool:a"));
                Assert.Equal(id, report.Members[0].Member);
            }
        }
        finally
        {
            foreach (var channel in channels.Values)
            {
                channel.Dispose();
            }
        }
    }

    /// <summary>
    /// Sends the tenant's requests one after another until the node refuses it as over budget; a refusal of the
    /// node's pacing (its share of what is left) is retried after its pushback, as a client honouring it would.
    /// </summary>
    private static async Task HammerAsync(
        Router.RouterClient router, string model, ConcurrentBag<decimal> served, ConcurrentBag<RpcException> refusals, ConcurrentBag<RpcException> failures, CancellationToken cancellationToken)
    {
        for (var i = 0; !cancellationToken.IsCancellationRequested; i++)
        {
            try
            {
                using var call = router.Chat(Ask(model, $"question {i}", maxTokens: 8), deadline: TimeProvider.System.GetUtcNow().UtcDateTime.AddSeconds(30), cancellationToken: cancellationToken);
                var usage = (await ReadAll(call))[^1].Completed.Usage;
                served.Add((usage.InputTokens + usage.OutputTokens) * (decimal)PricePerMillion / 1_000_000m);
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.ResourceExhausted && ex.Status.Detail.Contains("spent its budget_per_day_usd", StringComparison.Ordinal))
            {
                refusals.Add(ex);
                return;
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.ResourceExhausted)
            {
                var pushback = long.Parse(ex.Trailers.GetValue("grpc-retry-pushback-ms") ?? "100", CultureInfo.InvariantCulture);
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(pushback, 250)), CancellationToken.None);
            }
            catch (RpcException ex) when (!cancellationToken.IsCancellationRequested)
            {
                // Admitted, then failed (on a loaded machine, a deadline): counted by the node, not served.
                failures.Add(ex);
            }
            catch (Exception ex) when (cancellationToken.IsCancellationRequested && ex is RpcException or OperationCanceledException)
            {
                // The test's bound: its assertion says so, with the nodes' output.
                return;
            }
        }
    }

    /// <summary>
    /// The daily budget's window must not turn during the test (the mesh would admit a fresh budget): within five
    /// minutes of UTC midnight (far longer than the test takes), it starts in the new day.
    /// </summary>
    private static Task AwayFromMidnightAsync()
    {
        var start = TimeProvider.System.GetUtcNow().UtcDateTime;
        var untilMidnight = start.Date.AddDays(1) - start;
        return untilMidnight >= TimeSpan.FromMinutes(5)
            ? Task.CompletedTask
            : Eventually.WaitUntil(() => TimeProvider.System.GetUtcNow().UtcDateTime.Date > start.Date, "waiting for the UTC day to turn",
                () => $"now {TimeProvider.System.GetUtcNow():O}", untilMidnight + TimeSpan.FromMinutes(1));
    }
}
