using Grpc.Core;
using LlmRouter.Common.Protocol;
using LlmRouter.Common.Routing;

namespace LlmRouter.Common.Pipeline;

/// <summary>
/// The attempts of one request at one hop, within what is left of its budget for the whole path
/// (<see cref="AttemptBudget"/>): which candidate goes next, what each failure used up and what failed in
/// it, and the account the hop reports upward. Nodes and integrators keep it the same way, for chats and
/// embeddings alike.
/// </summary>
/// <remarks>
/// What failed is what the hop that saw it fail says failed: a copy this hop dialed itself, or, behind a
/// route, the copies the integrator named (as it saw them: a copy one integrator cannot reach may be fine
/// through another). So a route that named copies is asked again only after every fresh candidate, and
/// then told which copies it named, to avoid them; a candidate that failed otherwise is not asked again for
/// this request. What a hop below names is taken only as that: it never cools down a copy here (that hop
/// has recorded it in its own breakers) and never names this host's own copies, so a member that lies in
/// its trailers can only make itself look failed.
/// </remarks>
internal sealed class AttemptLedger(int budget, IReadOnlyList<string> failedBefore, string self)
{
    // Collections are made on the first failure: most requests succeed at their first attempt.
    // Candidates not to try again here: copies that failed, hops that failed naming nothing, copies cooling down.
    private HashSet<string>? _failed;

    // Routes that failed naming copies behind them, with the copies each named.
    private Dictionary<string, HashSet<string>>? _namedBy;

    // Everything that failed at or below this hop, for the account sent upward.
    private List<string>? _reported;

    private List<(RouteCandidate Candidate, RpcException Error)>? _failures;

    /// <summary>Backends tried at or below this hop so far.</summary>
    public int Used { get; private set; }

    /// <summary>What the hops below may still try.</summary>
    public int Remaining => budget - Used;

    public IReadOnlyList<(RouteCandidate Candidate, RpcException Error)> Failures => _failures ?? [];

    /// <summary>
    /// The next candidate to try, or null when the budget is spent or nothing is left: the best of the first
    /// ranking, then after each failure the best untried one of a fresh ranking (a failed attempt may have
    /// taken seconds in which the mesh changed), and only then a hop that failed naming copies.
    /// </summary>
    public RouteCandidate? Next(IReadOnlyList<ScoredCandidate> first, Func<IReadOnlyList<ScoredCandidate>?> rerank)
    {
        if (Remaining <= 0)
        {
            return null;
        }

        var ranking = _failures is null ? first : rerank() ?? first;
        return Pick(ranking, fresh: true) ?? Pick(first, fresh: true) ?? Pick(ranking, fresh: false) ?? Pick(first, fresh: false);
    }

    /// <summary>The copies a hop is told to avoid: those that failed before this request got here, and those it named itself.</summary>
    public IReadOnlyCollection<string> ExcludedFor(RouteCandidate candidate)
    {
        if (_namedBy is null || !_namedBy.TryGetValue(candidate.Key, out var named))
        {
            return failedBefore;
        }

        return [.. failedBefore.Union(named, StringComparer.Ordinal)];
    }

    /// <summary>
    /// Accounts for a failed attempt: what it used (as the hops below reported, at least one) and what failed
    /// in it. Returns what this hop's breakers record it against: the candidate itself, or nothing for a route
    /// that named the copies that failed behind it (the integrator has recorded those in its own breakers).
    /// </summary>
    public IReadOnlyList<string> Fail(RouteCandidate candidate, RpcException error)
    {
        Used = Math.Min(budget, Used + (candidate.IsLocal ? 1 : AttemptBudget.ReadUsed(error.Trailers)));
        (_failures ??= []).Add((candidate, error));
        var named = candidate.IsRoute ? BehindRoute(AttemptBudget.ReadFailed(error.Trailers)) : [];
        if (named.Count > 0)
        {
            _namedBy ??= new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
            if (!_namedBy.TryGetValue(candidate.Key, out var byHop))
            {
                _namedBy[candidate.Key] = byHop = new HashSet<string>(StringComparer.Ordinal);
            }

            byHop.UnionWith(named);
            Reported(named);
            return [];
        }

        (_failed ??= new HashSet<string>(StringComparer.Ordinal)).Add(candidate.Key);
        Reported([candidate.Key]);
        return [candidate.Key];
    }

    /// <summary>A candidate refused before it was tried (cooling down): not tried again, no attempt used, nothing reported upward.</summary>
    public void Skip(RouteCandidate candidate, RpcException refusal)
    {
        (_failed ??= new HashSet<string>(StringComparer.Ordinal)).Add(candidate.Key);
        (_failures ??= []).Add((candidate, refusal));
    }

    /// <summary>Accounts for the attempt that answered: what the hops below used for it (one here).</summary>
    public void Served(int used) => Used = Math.Min(budget, Used + Math.Max(1, used));

    /// <summary>Accounts for racers of a broadcast that did not fail (the winner, and those it cancelled): one each.</summary>
    public void Raced(int racers) => Used = Math.Min(budget, Used + racers);

    /// <summary>Writes this hop's account into the trailers of a call that answered.</summary>
    public void Report(Metadata trailers) => AttemptBudget.Write(trailers, Used, _reported ?? []);

    /// <summary>
    /// The status a failed request ends with, carrying this hop's account in its trailers, the partial flag
    /// when text already reached the caller, and of the hop below's trailers only the retry pushback.
    /// </summary>
    public RpcException Report(RpcException error, bool partial)
    {
        var trailers = new Metadata();
        foreach (var entry in error.Trailers)
        {
            if (entry.Key == RouterMetadata.RetryPushback || (entry.Key == RouterMetadata.Partial && !partial))
            {
                trailers.Add(entry);
            }
        }

        if (partial)
        {
            trailers.Add(RouterMetadata.Partial, "true");
        }

        AttemptBudget.Write(trailers, Used, _reported ?? []);
        return new RpcException(error.Status, trailers);
    }

    /// <summary>
    /// The status when no attempt answered: one failure as it was; after several, RESOURCE_EXHAUSTED (with the
    /// shortest pushback) only when every candidate was full, otherwise UNAVAILABLE listing what each met.
    /// </summary>
    public RpcException Exhausted(string model)
    {
        if (_failures is null)
        {
            return new RpcException(new Status(StatusCode.Unavailable,
                $"model: no candidate for '{model}' is left to try: every one in reach already failed for this request"));
        }

        if (_failures.Count == 1)
        {
            return _failures[0].Error;
        }

        var spent = Remaining <= 0 ? $" (the most a request may try across the mesh is {AttemptBudget.MaxAttempts})" : "";
        var summary = string.Join("; ", _failures.Select(f => $"{Describe(f.Candidate)}: {f.Error.StatusCode}: {f.Error.Status.Detail}"));
        if (_failures.All(f => f.Error.StatusCode == StatusCode.ResourceExhausted))
        {
            var pushback = _failures
                .Select(f => long.TryParse(f.Error.Trailers.GetValue(RouterMetadata.RetryPushback), out var ms) ? ms : long.MaxValue)
                .Min();
            var trailers = new Metadata();
            if (pushback != long.MaxValue)
            {
                trailers.Add(RouterMetadata.RetryPushback, pushback.ToString(System.Globalization.CultureInfo.InvariantCulture));
            }

            return new RpcException(new Status(StatusCode.ResourceExhausted, $"no candidate in reach has room: {summary}"), trailers);
        }

        return new RpcException(new Status(StatusCode.Unavailable, $"no candidate could serve the request after {Used} attempts{spent}: {summary}"));
    }

    /// <summary>Failures another candidate may not share are final. A bad request stays bad wherever it goes.</summary>
    public static bool Retryable(RpcException error) =>
        error.StatusCode is not (StatusCode.InvalidArgument or StatusCode.PermissionDenied or StatusCode.Unauthenticated or StatusCode.DeadlineExceeded);

    private static string Describe(RouteCandidate candidate) => candidate.IsRoute ? $"{candidate.Node} (route)" : $"{candidate.Node}/{candidate.Backend}";

    /// <summary>The best candidate not given up on; fresh: also none that failed already (a route that named copies).</summary>
    private RouteCandidate? Pick(IReadOnlyList<ScoredCandidate> ranking, bool fresh)
    {
        for (var i = 0; i < ranking.Count; i++)
        {
            var key = ranking[i].Target.Key;
            if (_failed?.Contains(key) != true && (!fresh || _namedBy?.ContainsKey(key) != true))
            {
                return ranking[i].Target;
            }
        }

        return null;
    }

    /// <summary>The copies a route named that can lie behind it: never this host's own.</summary>
    private List<string> BehindRoute(IReadOnlyList<string> named) =>
        named.Where(copy => !copy.StartsWith(self + "/", StringComparison.Ordinal)).ToList();

    private void Reported(IEnumerable<string> copies)
    {
        _reported ??= [];
        foreach (var copy in copies)
        {
            if (!_reported.Contains(copy))
            {
                _reported.Add(copy);
            }
        }
    }
}
