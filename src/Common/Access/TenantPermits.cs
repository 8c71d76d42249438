using Grpc.Core;
using LlmRouter.Common.Configuration;
using LlmRouter.Common.Routing;
using LlmRouter.V1;

namespace LlmRouter.Common.Access;

/// <summary>
/// A tenant's permissions as a filter on the candidates (DESIGN.md section 13): the models and aliases it may use,
/// whether cloud backends are allowed, and the policy labels always applied to it. Applied by every hop to the
/// tenant the request came with (nodes and integrators alike), first among the scope's filters, so the refusal is
/// PERMISSION_DENIED, naming what the tenant may not use and the setting that says so, only when it alone left nothing.
/// One instance per request: it remembers why it excluded candidates, for the refusal.
/// </summary>
internal sealed class TenantPermits(TenantConfig tenant, string pool, string meshFile) : ICandidateFilter
{
    private bool _model;
    private bool _cloud;
    private string? _label;

    /// <summary>Whether the tenant restricts anything a candidate filter decides (an open tenant needs no filter).</summary>
    public static bool Restricts(TenantConfig tenant) => !tenant.Models.Contains(TenantConfig.Any) || !tenant.Cloud || tenant.Labels.Count > 0;

    public StatusCode RefusalStatus => StatusCode.PermissionDenied;

    public string? Excludes(RouteCandidate candidate)
    {
        if (!tenant.MayUseModel(candidate.Model, candidate.Aliases))
        {
            _model = true;
            return $"tenant '{tenant.Name}' may not use model '{candidate.Model}'";
        }

        if (!tenant.Cloud && candidate.Cloud)
        {
            _cloud = true;
            return $"tenant '{tenant.Name}' may not use cloud backends";
        }

        foreach (var label in tenant.Labels)
        {
            if (!RouteRanker.Permits(label, candidate, pool))
            {
                _label = label;
                return $"tenant '{tenant.Name}' is always '{label}'";
            }
        }

        return null;
    }

    public string Refusal(string model) =>
        _model ? $"model: tenant '{tenant.Name}' may not use '{model}' (it may use: {string.Join(", ", tenant.Models)}; tenants[{tenant.Name}].models in {meshFile})"
        : _cloud ? $"model: tenant '{tenant.Name}' may not use cloud backends, and every backend in reach that serves '{model}' is one (tenants[{tenant.Name}].cloud in {meshFile})"
        : $"model: tenant '{tenant.Name}' is always '{_label}', which forbids every backend that serves '{model}' (tenants[{tenant.Name}].labels in {meshFile})";

    /// <summary>
    /// Whether a model a node lists is one the tenant could be served: its id or an alias allowed, and not a cloud
    /// backend when the tenant may not reach them (no cloud, or always on-prem-only). Where a route leads is not
    /// known from the listing, so subnet-only is not applied here; a request is still refused then.
    /// </summary>
    public static bool Lists(TenantConfig tenant, ModelInfo model) =>
        tenant.MayUseModel(model.Id, model.Aliases)
        && !(model.Cloud && (!tenant.Cloud || tenant.Labels.Contains(Protocol.PolicyLabels.OnPremOnly, StringComparer.Ordinal)));

    /// <summary>The routing profile the request asked for (or the mesh's default) must be one the tenant may pick.</summary>
    public static void CheckProfile(ChatRequest request, TenantConfig tenant, RoutingSettings routing, string meshFile)
    {
        var profile = request.RoutingProfile.Length > 0 ? request.RoutingProfile : routing.DefaultProfile;
        if (!tenant.MayUseProfile(profile))
        {
            throw new RpcException(new Status(StatusCode.PermissionDenied,
                $"routing_profile: tenant '{tenant.Name}' may not use profile '{profile}' (it may use: {string.Join(", ", tenant.Profiles)}; tenants[{tenant.Name}].profiles in {meshFile})"));
        }
    }
}
