using LlmRouter.Common.Chat;
using LlmRouter.Common.Configuration;
using LlmRouter.Common.Routing;
using LlmRouter.V1;

namespace LlmRouter.Common.Protection;

/// <summary>
/// Masking for one request at its entry node, attempt by attempt (DESIGN.md section 15): an attempt the policy
/// covers gets the masked request and restores the answer on its way to the client; one it does not cover (a
/// backend in the entry subnet, when masking applies only beyond it) gets the request as the client sent it. The
/// session, and so every placeholder, is the request's: a failover or a continuation masks and restores with the
/// same mapping. Hops below the entry never mask: what reaches them is already masked where it had to be.
/// </summary>
/// <param name="known">The candidates ranked for the request (<see cref="MaskingPolicy.AppliesToAttempt"/>).</param>
internal sealed class RequestMasking(MaskingConfig config, string tenant, IReadOnlyCollection<string> labels, string entryPool, IEnumerable<RouteCandidate> known)
{
    private MaskingSession? _session;

    /// <summary>The masking of a request entering here; null when the mesh file masks nothing.</summary>
    /// <param name="requestLabels">The request's own policy labels (its tenant's are added).</param>
    /// <param name="ranked">The candidates ranked for the request.</param>
    public static RequestMasking? ForEntry(MaskingConfig config, TenantConfig tenant, IEnumerable<string> requestLabels, string entryPool, IEnumerable<ScoredCandidate> ranked) =>
        config.CanApply
            ? new RequestMasking(config, tenant.Name, [.. requestLabels, .. tenant.Labels], entryPool, ranked.Select(c => c.Target).ToList())
            : null;

    /// <summary>Whether an attempt went out masked (the route log names the policy then).</summary>
    public bool Applied => _session is not null;

    /// <summary>Distinct values masked so far (for the span and the route log; never the values).</summary>
    public int Masked => _session?.Masked ?? 0;

    /// <summary>Distinct values masked so far, by placeholder label (for the metrics).</summary>
    public IReadOnlyDictionary<string, int> MaskedByLabel => _session?.MaskedByLabel ?? new Dictionary<string, int>();

    /// <summary>The request and the sink an attempt on <paramref name="candidate"/> uses.</summary>
    public (ChatRequest Request, IChatSink Sink) For(ChatRequest request, RouteCandidate candidate, IChatSink sink)
    {
        if (!MaskingPolicy.AppliesToAttempt(config, tenant, labels, entryPool, candidate, known))
        {
            return (request, sink);
        }

        var session = Session();
        return (session.Mask(request), new RestoringSink(sink, session, jsonAnswer: request.ResponseFormat is { FormatCase: not ResponseFormat.FormatOneofCase.None }));
    }

    /// <summary>The embedding request an attempt on <paramref name="candidate"/> sends: its inputs masked where the policy says (vectors are not restored).</summary>
    public EmbedRequest For(EmbedRequest request, RouteCandidate candidate)
    {
        if (!MaskingPolicy.AppliesToAttempt(config, tenant, labels, entryPool, candidate, known))
        {
            return request;
        }

        var session = Session();
        var masked = request.Clone();
        for (var i = 0; i < masked.Inputs.Count; i++)
        {
            masked.Inputs[i] = session.Mask(masked.Inputs[i]);
        }

        return masked;
    }

    private MaskingSession Session() => LazyInitializer.EnsureInitialized(ref _session, () => new MaskingSession(MaskingRecognizers.For(config)));
}
