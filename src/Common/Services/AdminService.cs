using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using LlmRouter.Common.Gossip;
using LlmRouter.Common.Membership;
using LlmRouter.Common.Pipeline;
using LlmRouter.Common.Protocol;
using LlmRouter.Common.Routing;
using LlmRouter.V1;

namespace LlmRouter.Common.Services;

/// <summary>
/// The operator's Admin API on every node and integrator: the pool's members, models and load as this host
/// sees them, and how it would route a request; on an integrator, for the pool whose listener was called.
/// </summary>
internal sealed class AdminService(Arrivals arrivals, RoutePlanner planner, IRouterHost host, Quotas.QuotaGate quotas, Audit.RouteLog routeLog, TimeProvider time)
{
    /// <summary>
    /// This host's route log entries of one request, each with the checkpoint that covers it and the inclusion proof
    /// (<c>audit show --remote</c>). What is written so far is flushed and signed first, so a request that just ended
    /// is proven too. The caller checks the signature and the proof: this host's word is not needed.
    /// </summary>
    public async Task<RouteLogEntriesResponse> RouteLogEntries(RouteLogEntriesRequest request, ServerCallContext context)
    {
        arrivals.Operator(context);
        if (request.RequestId.Length is 0 or > 128)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"request_id: required, at most 128 characters (got {request.RequestId.Length})"));
        }

        await routeLog.FlushAsync(context.CancellationToken).ConfigureAwait(false);
        var checkpoints = Audit.RouteLogFiles.ReadCheckpoints(Path.Combine(routeLog.Directory, Audit.RouteLogFiles.CheckpointsFile)).Where(c => c.Node == host.Id).ToList();
        var response = new RouteLogEntriesResponse { Node = host.Id };
        foreach (var proven in Audit.RouteLogExport.Request(routeLog.Directory, request.RequestId, checkpoints))
        {
            var entry = new ProvenRouteLogEntry
            {
                Index = (ulong)proven.Entry.Index,
                Line = Google.Protobuf.ByteString.CopyFrom(proven.Entry.Line),
                Checkpoint = proven.Checkpoint is null ? Google.Protobuf.ByteString.Empty : Google.Protobuf.ByteString.CopyFrom(proven.Checkpoint.Serialize()),
            };
            entry.Proof.AddRange(proven.Proof.Select(Google.Protobuf.ByteString.CopyFrom));
            response.Entries.Add(entry);
        }

        return response;
    }

    /// <summary>How this host would route the request if it arrived on this listener now: candidates, score terms, winner.</summary>
    public Task<ExplainResponse> Explain(ExplainRequest request, ServerCallContext context)
    {
        var seat = arrivals.Operator(context);
        var chat = request.Request ?? throw new RpcException(new Status(StatusCode.InvalidArgument, "request: required (the chat request to explain)"));
        RequestValidator.Validate(chat, host.Current.Server);
        // Explained as an operator sees the mesh: no tenant's restrictions.
        var arrival = new Arrival(seat, null, "explain", [], AttemptBudget.MaxAttempts, [], new Access.Principal(Configuration.TenantConfig.Open("operator"), "operator"));
        return Task.FromResult(planner.Explain(RouteQuery.For(chat, seat.Name), planner.Scope(arrival, chat.Mode)));
    }

    public Task<ListMembersResponse> ListMembers(ListMembersRequest request, ServerCallContext context)
    {
        var response = Membership(context).Read(state =>
        {
            var now = state.Now;
            var list = new ListMembersResponse { LocalHealth = (uint)state.LocalHealth, Node = state.Id };
            foreach (var member in state.Members.OrderBy(m => m.Id, StringComparer.Ordinal))
            {
                var item = new Member
                {
                    Id = member.Id,
                    Address = member.Address,
                    Pool = member.Pool,
                    Role = member.Role,
                    Incarnation = member.Incarnation,
                    Status = member.Status,
                    StatusAge = Duration.FromTimeSpan(now - member.StatusChanged),
                    Self = member.IsSelf,
                };
                if (state.LastHeard(member.Id) is { } heard)
                {
                    item.LastHeardAgo = Duration.FromTimeSpan(now - heard);
                }

                list.Pool = member.IsSelf ? member.Pool : list.Pool;
                list.Members.Add(item);
            }

            return list;
        });
        return Task.FromResult(response);
    }

    public Task<ListMeshModelsResponse> ListMeshModels(ListMeshModelsRequest request, ServerCallContext context)
    {
        var members = Membership(context).Snapshot.Members;
        var response = new ListMeshModelsResponse();
        response.Models.AddRange(members
            .Where(m => MemberReach.InReach(m.Status) && m.Models is not null)
            .SelectMany(m => m.Models!.Models)
            .OrderBy(m => m.Id, StringComparer.Ordinal)
            .ThenBy(m => m.Node, StringComparer.Ordinal));
        response.Routes.AddRange(members
            .Where(m => MemberReach.InReach(m.Status) && m.Routes is not null)
            .SelectMany(m => m.Routes!.Routes.Select(route => new AdvertisedRoute { Integrator = m.Id, Route = route }))
            .OrderBy(r => r.Route.Model.Id, StringComparer.Ordinal)
            .ThenBy(r => r.Integrator, StringComparer.Ordinal));
        return Task.FromResult(response);
    }

    public Task<GetLoadResponse> GetLoad(GetLoadRequest request, ServerCallContext context)
    {
        var response = new GetLoadResponse();
        response.Members.AddRange(Membership(context).Snapshot.Members.OrderBy(m => m.Id, StringComparer.Ordinal).Select(member =>
        {
            var load = new MemberLoad { Member = member.Id, Status = member.Status, Fresh = member.Load is not null };
            if (member.Load is { } record)
            {
                load.Load = record;
            }

            return load;
        }));
        return Task.FromResult(response);
    }

    /// <summary>Each tenant's usage against its limits: the mesh's as this host knows it, per member or pool, and this host's pacing.</summary>
    public Task<UsageResponse> Usage(UsageRequest request, ServerCallContext context)
    {
        arrivals.Operator(context);
        var mesh = host.Current.Mesh;
        var tenants = request.Tenant.Length == 0 ? mesh.Tenants
            : [mesh.FindTenant(request.Tenant) ?? throw new RpcException(new Status(StatusCode.NotFound,
                $"tenant: '{request.Tenant}' is not a tenant of {mesh.SourcePath} (tenants: {string.Join(", ", mesh.Tenants.Select(t => t.Name))})"))];
        var now = time.GetUtcNow();
        var response = new UsageResponse { Node = host.Id, Spread = Duration.FromTimeSpan(quotas.Spread) };
        foreach (var tenant in tenants)
        {
            var (minute, day) = quotas.Ledger.Total(tenant.Name, now);
            var (open, recent, sharing) = quotas.Share(tenant.Name);
            var report = new TenantUsageReport
            {
                Tenant = tenant.Name,
                Limits = Limits(tenant.Limits),
                Minute = Figures(minute),
                Day = Figures(day),
                OpenStreams = (uint)open,
                RecentAdmissions = (ulong)recent,
                SharingMembers = (ulong)sharing,
            };
            report.Members.AddRange(quotas.Ledger.PerSlot(tenant.Name, now)
                .Select(slot => new SlotUsage { Member = slot.Member, Minute = Figures(slot.Minute), Day = Figures(slot.Day) }));
            response.Tenants.Add(report);
        }

        return Task.FromResult(response);
    }

    private static UsageFigures Figures(Quotas.UsageCounts counts) => new()
    {
        Requests = (ulong)counts.Requests,
        InputTokens = (ulong)counts.InputTokens,
        OutputTokens = (ulong)counts.OutputTokens,
        SpendUsd = counts.SpendMicroUsd / 1_000_000.0,
        InFlight = (ulong)counts.InFlight,
    };

    private static UsageLimits Limits(Configuration.TenantLimits limits)
    {
        var proto = new UsageLimits();
        if (limits.RequestsPerMinute is { } requests)
        {
            proto.RequestsPerMinute = (ulong)requests;
        }

        if (limits.InputTokensPerMinute is { } input)
        {
            proto.InputTokensPerMinute = (ulong)input;
        }

        if (limits.OutputTokensPerMinute is { } output)
        {
            proto.OutputTokensPerMinute = (ulong)output;
        }

        if (limits.ConcurrentStreams is { } streams)
        {
            proto.ConcurrentStreams = (uint)streams;
        }

        if (limits.BudgetPerDayUsd is { } budget)
        {
            proto.BudgetPerDayUsd = (double)budget;
        }

        return proto;
    }

    /// <summary>The membership of the pool whose listener was called (UNAVAILABLE while it starts).</summary>
    private PoolMembership Membership(ServerCallContext context) =>
        arrivals.Operator(context).Membership ?? throw new RpcException(new Status(StatusCode.Unavailable, "membership is starting; retry shortly"));
}
