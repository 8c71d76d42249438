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
internal sealed class AdminService(Arrivals arrivals, RoutePlanner planner, IRouterHost host)
{
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

    /// <summary>The membership of the pool whose listener was called (UNAVAILABLE while it starts).</summary>
    private PoolMembership Membership(ServerCallContext context) =>
        arrivals.Operator(context).Membership ?? throw new RpcException(new Status(StatusCode.Unavailable, "membership is starting; retry shortly"));
}
