using LlmRouter.Common.Protocol;
using System.CommandLine;
using System.Globalization;
using LlmRouter.V1;

namespace LlmRouter.Node.Cli;

/// <summary>
/// <c>members</c>, <c>mesh-models</c> and <c>load</c>: the Admin API for people without gRPC tools. They
/// present the client certificate of the certificate directory (certs/dev/client.crt for the sample).
/// </summary>
internal static class AdminCommands
{
    public static IEnumerable<Command> Create()
    {
        yield return Command("members", "List the members of a node's pool: status, incarnation, last heard, local health", async (admin, token) =>
        {
            var response = await admin.ListMembersAsync(new ListMembersRequest(), deadline: Deadline(), cancellationToken: token).ConfigureAwait(false);
            Console.WriteLine($"node {response.Node}, pool {response.Pool}, local health {response.LocalHealth} (0 is healthy)");
            Console.WriteLine($"{"MEMBER",-14} {"STATUS",-8} {"INCARNATION",11} {"LAST HEARD",11} {"SINCE",9} {"ROLE",-11} ADDRESS");
            foreach (var member in response.Members)
            {
                var heard = member.Self ? "self" : member.LastHeardAgo is { } ago ? Age(ago) : "never";
                Console.WriteLine($"{member.Id,-14} {Name(member.Status),-8} {member.Incarnation,11} {heard,11} {Age(member.StatusAge),9} {Name(member.Role),-11} {member.Address}");
            }
        });
        yield return Explain();
        yield return Usage();
        yield return Command("mesh-models", "List every model in a node's pool and the member that serves it, and the routes integrators advertise", async (admin, token) =>
        {
            var response = await admin.ListMeshModelsAsync(new ListMeshModelsRequest(), deadline: Deadline(), cancellationToken: token).ConfigureAwait(false);
            Console.WriteLine($"{"MODEL",-28} {"MEMBER",-12} {"POOL",-12} {"BACKEND",-16} {"QUALITY",7} {"CONTEXT",8} ALIASES");
            foreach (var model in response.Models)
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{model.Id,-28} {model.Node,-12} {model.Pool,-12} {model.Backend + (model.Cloud ? "*" : ""),-16} {model.Quality,7:0.00} {model.ContextTokens,8} {string.Join(",", model.Aliases)}"));
            }

            if (response.Routes.Count > 0)
            {
                Console.WriteLine();
                Console.WriteLine($"{"ROUTE TO MODEL",-28} {"INTEGRATOR",-12} {"POOLS",-24} {"FREE",5} {"LOAD",5} {"QUALITY",7}");
                foreach (var advertised in response.Routes)
                {
                    var route = advertised.Route;
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"{route.Model.Id,-28} {advertised.Integrator,-12} {string.Join(" > ", route.Pools),-24} {route.FreeCapacity,5} {route.LeastLoad,5:0.00} {route.Model.Quality,7:0.00}"));
                }
            }
        });
        yield return Command("load", "Show the latest load of every member of a node's pool", async (admin, token) =>
        {
            var response = await admin.GetLoadAsync(new GetLoadRequest(), deadline: Deadline(), cancellationToken: token).ConfigureAwait(false);
            Console.WriteLine($"{"MEMBER",-14} {"BACKEND",-16} {"RUNNING",7} {"QUEUED",6} {"MAX",5} {"TTFT MS",8} {"TOK/S",7} {"ERRORS",6}");
            foreach (var member in response.Members)
            {
                if (!member.Fresh)
                {
                    Console.WriteLine($"{member.Member,-14} {"(unknown: no fresh load record)",-16}");
                    continue;
                }

                foreach (var backend in member.Load.Backends)
                {
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"{member.Member,-14} {backend.Backend,-16} {backend.InFlight,7} {backend.Queued,6} {backend.MaxConcurrency,5} {backend.TimeToFirstTokenMs,8:0} {backend.TokensPerSecond,7:0.0} {backend.ErrorRate,6:0.00}"));
                }
            }
        });
    }

    /// <summary><c>explain</c>: how a node would route a request (candidates, exclusions, score terms, winner).</summary>
    public static Command Explain()
    {
        var address = new NodeAddressOptions();
        var model = new Option<string>("--model", "-m") { Description = "Model id, alias or auto", DefaultValueFactory = _ => "auto" };
        var profile = new Option<string?>("--profile") { Description = "Routing profile: balanced, quality, cost or latency" };
        var labels = new Option<string[]>("--label") { Description = "Policy label (repeatable)" };
        var command = new Command("explain", "Show how a node would route a request: every candidate, its score terms, the winner") { model, profile, labels };
        address.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var request = new ChatRequest { Model = parse.GetValue(model)!, RoutingProfile = parse.GetValue(profile) ?? "" };
            request.Messages.Add(new ChatMessage { Role = Role.User, Content = "explain" });
            request.PolicyLabels.AddRange(parse.GetValue(labels) ?? []);
            var (channel, _) = address.Connect(parse);
            using (channel)
            {
                var response = await new Admin.AdminClient(channel).ExplainAsync(new ExplainRequest { Request = request }, deadline: Deadline(), cancellationToken: cancellationToken)
                    .ConfigureAwait(false);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"profile {response.Profile}: weights quality {response.Weights?.Quality:0.##}, price {response.Weights?.Price:0.##}, latency {response.Weights?.Latency:0.##}, load {response.Weights?.Load:0.##}, warm {response.Weights?.Warm:0.##}, locality {response.Weights?.Locality:0.##}"));
                Console.WriteLine($"{"NODE",-10} {"BACKEND",-16} {"MODEL",-24} {"SCORE",6} {"QUAL",5} {"PRICE",5} {"LAT",5} {"LOAD",5} {"WARM",5} {"LOC",5} EXCLUDED");
                foreach (var c in response.Candidates)
                {
                    var t = c.Terms;
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"{c.Node,-10} {c.Backend,-16} {c.Model,-24} {c.Score,6:0.000} {t.Quality,5:0.00} {t.Price,5:0.00} {t.Latency,5:0.00} {t.Load,5:0.00} {t.Warm,5:0.00} {t.Locality,5:0.00} {c.Excluded}"));
                }

                Console.WriteLine(response.WinnerNode.Length > 0 ? $"winner: {response.WinnerNode}/{response.WinnerBackend}" : $"no winner: {response.Refusal}");
            }

            return 0;
        });
        return command;
    }

    /// <summary><c>usage</c>: each tenant's usage against its limits, across the mesh and per member, as a node knows it.</summary>
    public static Command Usage()
    {
        var address = new NodeAddressOptions();
        var tenant = new Option<string?>("--tenant", "-t") { Description = "One tenant (default: every tenant of the mesh file)" };
        var command = new Command("usage", "Show each tenant's usage against its quotas: across the mesh and per member (per pool beyond a border), this minute and today") { tenant };
        address.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var (channel, _) = address.Connect(parse);
            using (channel)
            {
                var response = await new Admin.AdminClient(channel).UsageAsync(new UsageRequest { Tenant = parse.GetValue(tenant) ?? "" }, deadline: Deadline(), cancellationToken: cancellationToken)
                    .ConfigureAwait(false);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"as {response.Node} knows it; usage takes up to {response.Spread.ToTimeSpan().TotalSeconds:0.#} s to spread (each member paces its share over that)"));
                Console.WriteLine($"{"TENANT",-16} {"MEMBER",-16} {"REQUESTS/MIN",14} {"IN TOKENS/MIN",16} {"OUT TOKENS/MIN",16} {"SPENT TODAY USD",20} {"IN FLIGHT",9}");
                foreach (var report in response.Tenants)
                {
                    var limits = report.Limits;
                    Row(report.Tenant, "mesh", report.Minute, report.Day, limits);
                    foreach (var slot in report.Members)
                    {
                        Row("", slot.Member, slot.Minute, slot.Day, null);
                    }

                    var streams = limits.HasConcurrentStreams ? string.Create(CultureInfo.InvariantCulture, $" of {limits.ConcurrentStreams} per node") : "";
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"{"",-16} this node: {report.OpenStreams} streams open{streams}, {report.RecentAdmissions} admitted within the spread, its share counted among {report.SharingMembers} members"));
                }
            }

            return 0;
        });
        return command;
    }

    private static void Row(string tenant, string member, UsageFigures minute, UsageFigures day, UsageLimits? limits)
    {
        static string Of(ulong used, bool limited, ulong limit) => limited ? string.Create(CultureInfo.InvariantCulture, $"{used}/{limit}") : used.ToString(CultureInfo.InvariantCulture);
        var spend = string.Create(CultureInfo.InvariantCulture, $"{day.SpendUsd:0.######}") + (limits?.HasBudgetPerDayUsd == true ? string.Create(CultureInfo.InvariantCulture, $"/{limits.BudgetPerDayUsd:0.######}") : "");
        Console.WriteLine($"{tenant,-16} {member,-16} {Of(minute.Requests, limits?.HasRequestsPerMinute == true, limits?.RequestsPerMinute ?? 0),14} "
            + $"{Of(minute.InputTokens, limits?.HasInputTokensPerMinute == true, limits?.InputTokensPerMinute ?? 0),16} "
            + $"{Of(minute.OutputTokens, limits?.HasOutputTokensPerMinute == true, limits?.OutputTokensPerMinute ?? 0),16} {spend,20} {minute.InFlight,9}");
    }

    private static Command Command(string name, string description, Func<Admin.AdminClient, CancellationToken, Task> run)
    {
        var address = new NodeAddressOptions();
        var command = new Command(name, description);
        address.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var (channel, _) = address.Connect(parse);
            using (channel)
            {
                await run(new Admin.AdminClient(channel), cancellationToken).ConfigureAwait(false);
            }

            return 0;
        });
        return command;
    }

    private static DateTime Deadline() => TimeProvider.System.GetUtcNow().UtcDateTime.AddSeconds(10);

    private static string Age(Google.Protobuf.WellKnownTypes.Duration duration) =>
        string.Create(CultureInfo.InvariantCulture, $"{duration.ToTimeSpan().TotalSeconds:0.0}s");

    private static string Name(MemberStatus status) => status.ToString().ToLowerInvariant();

    private static string Name(MemberRole role) => role.ToString().ToLowerInvariant();
}
