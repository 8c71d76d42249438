namespace LlmRouter.Common.Routing;

/// <summary>
/// A rule of the host or of the request that narrows where a request may go, beyond its model, requirements
/// and policy labels: the integrator's border rules, and what a request has already been through. The
/// ranker applies them in its one pass; Explain shows which one excluded a candidate.
/// </summary>
internal interface ICandidateFilter
{
    /// <summary>Why the candidate is out of reach for this request, or null when the filter lets it through.</summary>
    string? Excludes(RouteCandidate candidate);

    /// <summary>The refusal when this filter left no candidate for <paramref name="model"/>.</summary>
    string Refusal(string model);

    /// <summary>The status of that refusal: UNAVAILABLE for where a request may go now; a tenant's permissions say PERMISSION_DENIED.</summary>
    global::Grpc.Core.StatusCode RefusalStatus => global::Grpc.Core.StatusCode.Unavailable;
}

/// <summary>Where a request may go from this host: only its own backends, or the pools too, and under which filters.</summary>
internal sealed record RouteScope(bool LocalOnly, IReadOnlyList<ICandidateFilter> Filters)
{
    public static RouteScope Local { get; } = new(true, []);

    public static RouteScope Mesh { get; } = new(false, []);

    public RouteScope With(ICandidateFilter filter) => this with { Filters = [.. Filters, filter] };

    /// <summary>
    /// The scope with a filter applied before the others: the ranker names the refusal of the last filter that
    /// excluded a candidate, so a filter placed first is named only when it alone left nothing.
    /// </summary>
    public RouteScope WithFirst(ICandidateFilter filter) => this with { Filters = [filter, .. Filters] };
}

/// <summary>Border rule of an integrator: a request is never carried back into the pool it came from, nor along a route through it.</summary>
internal sealed class NotBackInto(string pool, string integrator) : ICandidateFilter
{
    public string? Excludes(RouteCandidate candidate) =>
        string.Equals(candidate.Pool, pool, StringComparison.Ordinal) ? $"in pool '{pool}', which the request came from"
        : RouteCandidate.Contains(candidate.ViaPools, pool) ? $"leads back into pool '{pool}'"
        : null;

    public string Refusal(string model) =>
        $"model: no member behind integrator '{integrator}' serves '{model}' now (only pool '{pool}', which the request came from, has it)";
}

/// <summary>Border rule of an integrator with an export list: it carries only the models the list names (by id or alias).</summary>
internal sealed class ExportedOnly(IReadOnlyList<string> export, string integrator) : ICandidateFilter
{
    public string? Excludes(RouteCandidate candidate) => Allows(export, candidate.Model, candidate.Aliases) ? null : $"not exported by integrator '{integrator}'";

    public string Refusal(string model) => $"model: integrator '{integrator}' does not export '{model}' (export: {string.Join(", ", export)})";

    /// <summary>The export rule, for requests carried and routes advertised alike: every model without a list, else the ones it names.</summary>
    public static bool Allows(IReadOnlyList<string> export, string model, IReadOnlyList<string> aliases)
    {
        if (export.Count == 0 || RouteCandidate.Contains(export, model))
        {
            return true;
        }

        for (var i = 0; i < aliases.Count; i++)
        {
            if (RouteCandidate.Contains(export, aliases[i]))
            {
                return true;
            }
        }

        return false;
    }
}

/// <summary>Request rule: never a member the request has already passed through.</summary>
internal sealed class NotOnPath(IReadOnlyList<string> path) : ICandidateFilter
{
    public string? Excludes(RouteCandidate candidate) =>
        RouteCandidate.Contains(path, candidate.Node) ? $"'{candidate.Node}' is already on the request's path" : null;

    public string Refusal(string model) => $"model: every member serving '{model}' is already on the request's path ({string.Join(" > ", path)})";
}

/// <summary>Request rule: a copy (or route) that already failed for this request, anywhere on its path, is not tried again.</summary>
internal sealed class NotFailedBefore(IReadOnlyCollection<string> failed) : ICandidateFilter
{
    public string? Excludes(RouteCandidate candidate) => failed.Contains(candidate.Key) ? "already failed for this request" : null;

    public string Refusal(string model) => $"model: every copy of '{model}' in reach already failed for this request ({string.Join(", ", failed)})";
}
