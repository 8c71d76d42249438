using LlmRouter.Common.Chat;
using LlmRouter.Common.Configuration;
using LlmRouter.V1;

namespace LlmRouter.Common.Protection;

/// <summary>
/// The answer guardrails of one request at its entry node (<c>on: answer</c>, docs/protection.md): they read the
/// answer's text as the client would read it (placeholders restored) while it streams, each attempt through its own
/// <see cref="AnswerScreen"/>. A block stops the stream where the rule matched: the attempt is cancelled, and the
/// request ends with PERMISSION_DENIED naming the guardrail, with the partial flag when text already went out. A flag
/// is recorded once. A mask replaces what it found with <c>[MASKED:name]</c> before the client reads it. Text is held
/// back by the largest <c>hold_back</c> of the guardrails that apply, so a match that long is found before any of it
/// leaves; tool calls pass unscreened (their arguments are JSON for the caller's code, not text for a reader).
/// </summary>
internal sealed class AnswerGuardrails
{
    private readonly IReadOnlyList<GuardrailConfig> _guardrails;
    private readonly CancellationTokenSource _attempts;
    private readonly List<RequestGuardrails.Fired> _fired = [];

    // The end of what reached the client, as the model wrote it (before masks): a match may begin there, also across a
    // continuation's seam. Attempts follow one another (a broadcast is screened after its race), so one at a time.
    private string _sent = "";

    private AnswerGuardrails(IReadOnlyList<GuardrailConfig> guardrails, CancellationTokenSource attempts)
    {
        _guardrails = guardrails;
        _attempts = attempts;
        HoldBack = guardrails.Max(g => g.HoldBack);
    }

    /// <summary>The answer guardrails that apply to a request entering here; null when none does.</summary>
    /// <param name="attempts">Cancels the request's attempts: a block stops the one streaming.</param>
    public static AnswerGuardrails? ForEntry(IReadOnlyList<GuardrailConfig> guardrails, ChatRequest request, TenantConfig tenant, CancellationTokenSource attempts)
    {
        var applying = guardrails.Where(g => g.On == GuardrailPhase.Answer && RequestGuardrails.AppliesTo(g, request.PolicyLabels, tenant)).ToList();
        return applying.Count == 0 ? null : new AnswerGuardrails(applying, attempts);
    }

    /// <summary>Characters of text held back from the client.</summary>
    public int HoldBack { get; }

    /// <summary>The guardrails, in the mesh file's order.</summary>
    public IReadOnlyList<GuardrailConfig> Guardrails => _guardrails;

    /// <summary>The block that stopped the answer; null while none has.</summary>
    public RequestGuardrails.Fired? Blocked { get; private set; }

    /// <summary>Every guardrail that fired on the answer, once each, in the order they fired.</summary>
    public IReadOnlyList<RequestGuardrails.Fired> Fired
    {
        get
        {
            lock (_fired)
            {
                return [.. _fired];
            }
        }
    }

    // How much of what went out is read again with each delta, for a match that began in it.
    private const int SentContext = 256;

    /// <summary>The end of what reached the client so far (at most 256 characters, as the model wrote them).</summary>
    public string SentTail => _sent;

    /// <summary>Text that is going out to the client now.</summary>
    public void Sent(string text)
    {
        var sent = _sent + text;
        _sent = sent.Length > SentContext ? sent[^SentContext..] : sent;
    }

    /// <summary>The sink an attempt writes to: its text screened on the way to <paramref name="sink"/>.</summary>
    public IChatSink For(IChatSink sink) => new HoldingSink(sink, new AnswerScreen(this), arguments: null);

    /// <summary>
    /// Records a guardrail that found something; a block also stops the answer (the attempt's call is cancelled, and
    /// this throws). What it found is not recorded: it is what the guardrail keeps from the client, so it is not
    /// repeated in the status, a log or a span.
    /// </summary>
    /// <exception cref="OperationCanceledException">The guardrail blocks.</exception>
    public void Fire(GuardrailConfig guardrail, string rule)
    {
        var fired = new RequestGuardrails.Fired(guardrail.Name, guardrail.Verdict, rule, "", Answer: true);
        lock (_fired)
        {
            if (!_fired.Exists(f => f.Guardrail == guardrail.Name))
            {
                _fired.Add(fired);
            }

            if (guardrail.Verdict == GuardrailVerdict.Block)
            {
                Blocked ??= fired;
            }
        }

        if (guardrail.Verdict == GuardrailVerdict.Block)
        {
            _attempts.Cancel();
            throw new OperationCanceledException($"guardrail '{guardrail.Name}' blocked the answer", _attempts.Token);
        }
    }
}
