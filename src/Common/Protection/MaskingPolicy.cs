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
    /// <summary>Whether this attempt must carry the masked request.</summary>
    /// <param name="labels">The request's policy labels with its tenant's.</param>
    public static bool Applies(MaskingConfig config, string tenant, IReadOnlyCollection<string> labels, string entryPool, RouteCandidate candidate)
    {
        var when = config.When;
        foreach (var rule in config.Rules)
        {
            if (Matches(rule, tenant, labels, entryPool, candidate))
            {
                when = rule.When;
                break;
            }
        }

        var leaving = candidate.IsRoute || candidate.Pool != entryPool;
        return when.HasFlag(MaskWhen.Always)
            || (when.HasFlag(MaskWhen.LeavingSubnet) && leaving)
            || (when.HasFlag(MaskWhen.Cloud) && candidate.Cloud);
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
