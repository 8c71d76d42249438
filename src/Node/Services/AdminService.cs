using LlmRouter.Common.Membership;
using LlmRouter.Common.Grpc;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using LlmRouter.Common.Gossip;
using LlmRouter.Common.Identity;
using LlmRouter.Node.Hosting;
using LlmRouter.Node.Membership;
using LlmRouter.V1;

namespace LlmRouter.Node.Services;

/// <summary>The operator's Admin API: the pool's members, models and load as this node sees them.</summary>
internal sealed class AdminService(MembershipRuntime membership, MeshTrust trust, Catalog.NodeCatalog catalog, Routing.RouteRanker ranker)
{
    public Task<ExplainResponse> Explain(ExplainRequest request, ServerCallContext context)
    {
        Authorize(context);
        var chat = request.Request ?? throw new RpcException(new Status(StatusCode.InvalidArgument, "request: required (the chat request to explain)"));
        var snapshot = catalog.Current;
        Chat.RequestValidator.Validate(chat, snapshot.Mesh.Server);
        return Task.FromResult(ranker.Explain(snapshot, Routing.RouteQuery.For(chat), localOnly: chat.Mode == RoutingMode.Local));
    }

    public Task<ListMembersResponse> ListMembers(ListMembersRequest request, ServerCallContext context)
    {
        Authorize(context);
        var response = membership.Read(state =>
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
        Authorize(context);
        var response = new ListMeshModelsResponse();
        response.Models.AddRange(membership.Read(state => state.Members
            .Where(m => m.Status is MemberStatus.Alive or MemberStatus.Suspect && m.Models is not null)
            .SelectMany(m => m.Models!.Models)
            .OrderBy(m => m.Id, StringComparer.Ordinal)
            .ThenBy(m => m.Node, StringComparer.Ordinal)
            .ToList()));
        response.Routes.AddRange(membership.Read(state => state.Members
            .Where(m => m.Status == MemberStatus.Alive && m.Routes is not null)
            .SelectMany(m => m.Routes!.Routes.Select(route => new AdvertisedRoute { Integrator = m.Id, Route = route }))
            .OrderBy(r => r.Route.Model.Id, StringComparer.Ordinal)
            .ThenBy(r => r.Integrator, StringComparer.Ordinal)
            .ToList()));
        return Task.FromResult(response);
    }

    public Task<GetLoadResponse> GetLoad(GetLoadRequest request, ServerCallContext context)
    {
        Authorize(context);
        var response = new GetLoadResponse();
        response.Members.AddRange(membership.Read(state => state.Members.OrderBy(m => m.Id, StringComparer.Ordinal).Select(member =>
        {
            var load = new MemberLoad { Member = member.Id, Status = member.Status, Fresh = member.Load is not null };
            if (member.Load is { } record)
            {
                load.Load = record;
            }

            return load;
        }).ToList()));
        return Task.FromResult(response);
    }

    private void Authorize(ServerCallContext context) =>
        CallerIdentity.Require(context, trust, MeshRole.Client, MeshRole.Node, MeshRole.Integrator);
}
