using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using LlmRouter.Common.Configuration;
using LlmRouter.Common.Routing;

namespace LlmRouter.Common.Protection;

/// <summary>
/// Whether an attempt's request goes out masked (DESIGN.md section 15), decided at the entry node for each
/// candidate: the first rule of <c>protection.masking.rules</c> whose conditions all hold (tenant, a policy label,
/// the pool the request entered in, the backend that would serve it) says when, and with none the section's own
/// <c>when</c>. An attempt leaves the subnet when it goes through an integrator or, from an integrator, into another
/// of its pools; it goes to the cloud when its backend is a cloud API (for a route, as the integrator's
/// advertisement of the model behind the border says).
/// </summary>
internal static class MaskingPolicy
{
    /// <summary>
    /// Whether an attempt on <paramref name="candidate"/> must carry the masked request. The hop below may move the
    /// request to another copy on its own (a member fails over between its backends of the model; an integrator picks
    /// among the copies beyond the border), so the attempt is masked when any copy it may reach asks for it: every
    /// copy of the model on that member, and for a route under a cloud policy always, since the integrator's choice
    /// may be a cloud copy.
    /// </summary>
    /// <param name="labels">The request's policy labels with its tenant's.</param>
    /// <param name="known">The candidates ranked for the request: where a member's other copies of the model are found.</param>
    public static bool AppliesToAttempt(
        MaskingConfig config, string tenant, IReadOnlyCollection<string> labels, string entryPool, RouteCandidate candidate, IEnumerable<RouteCandidate> known)
    {
        if (Applies(config, tenant, labels, entryPool, candidate))
        {
            return true;
        }

        if (candidate.IsLocal)
        {
            return false;
        }

        return candidate.IsRoute
            ? When(config, tenant, labels, entryPool, candidate).HasFlag(MaskWhen.Cloud)
            : known.Any(copy => copy.Node == candidate.Node && copy.Model == candidate.Model && !ReferenceEquals(copy, candidate)
                && Applies(config, tenant, labels, entryPool, copy));
    }

    /// <summary>Whether the request may reach <paramref name="candidate"/> only masked (one copy, as the hop that serves it).</summary>
    /// <param name="labels">The request's policy labels with its tenant's.</param>
    public static bool Applies(MaskingConfig config, string tenant, IReadOnlyCollection<string> labels, string entryPool, RouteCandidate candidate)
    {
        var when = When(config, tenant, labels, entryPool, candidate);
        var leaving = candidate.IsRoute || candidate.Pool != entryPool;
        return when.HasFlag(MaskWhen.Always)
            || (when.HasFlag(MaskWhen.LeavingSubnet) && leaving)
            || (when.HasFlag(MaskWhen.Cloud) && candidate.Cloud);
    }

    /// <summary>The first matching rule's when, or the section's own.</summary>
    private static MaskWhen When(MaskingConfig config, string tenant, IReadOnlyCollection<string> labels, string entryPool, RouteCandidate candidate)
    {
        foreach (var rule in config.Rules)
        {
            if (Matches(rule, tenant, labels, entryPool, candidate))
            {
                return rule.When;
            }
        }

        return config.When;
    }

    private static bool Matches(MaskingRule rule, string tenant, IReadOnlyCollection<string> labels, string entryPool, RouteCandidate candidate) =>
        (rule.Tenant is null || rule.Tenant == tenant)
        && (rule.Label is null || labels.Contains(rule.Label))
        && (rule.Pool is null || rule.Pool == entryPool)
        && (rule.Backend is null || (!candidate.IsRoute && rule.Backend == candidate.Backend));
}

/// <summary>The recognizers a masking configuration names, built once per configuration (a reload builds them anew).</summary>
internal static class MaskingRecognizers
{
    /// <summary>Custom patterns run in linear time whatever the text: a pattern cannot stall a request.</summary>
    public const RegexOptions CustomOptions = RegexOptions.NonBacktracking | RegexOptions.CultureInvariant;

    private static readonly ConditionalWeakTable<MaskingConfig, IReadOnlyList<Recognizer>> Built = [];

    public static IReadOnlyList<Recognizer> For(MaskingConfig config) => Built.GetValue(config, static config =>
    [
        .. Recognizers.BuiltIn.Where(r => config.Recognizers.Contains(r.Name)),
        .. config.Custom.Select(c => new Recognizer(c.Name, c.Name.ToUpperInvariant(), new Regex(c.Pattern, CustomOptions))),
    ]);
}
