namespace LlmRouter.Common.Configuration;

/// <summary>The <c>protection:</c> section: what the mesh changes or stops in what travels (DESIGN.md section 15).</summary>
public sealed record ProtectionConfig(MaskingConfig Masking)
{
    public static ProtectionConfig Default { get; } = new(MaskingConfig.Off);

    /// <summary>Checks on what callers send and on the answers they get, each with its verdict; at the entry node, in order.</summary>
    public IReadOnlyList<GuardrailConfig> Guardrails { get; init; } = [];
}

/// <summary>
/// One guardrail (docs/protection.md): what it reads (<see cref="On"/>: the request callers wrote, or the answer as it
/// streams), what it checks for (<c>prompt_injection</c>, <c>jailbreak</c>, <c>personal_data</c> of the
/// <see cref="Kinds"/> listed, a <c>pattern</c> of the operator's, or the verdict of a <c>guard_model</c> the mesh
/// serves), its verdict (block: PERMISSION_DENIED naming it; flag: recorded, the request goes on; mask: what it found
/// is replaced by <c>[MASKED:name]</c> and the request goes on), and whom it applies to (the tenants and policy
/// labels listed; everyone when both are empty).
/// </summary>
public sealed record GuardrailConfig(string Name, string Check, string? Pattern, GuardrailVerdict Verdict, IReadOnlyList<string> Tenants, IReadOnlyList<string> Labels)
{
    /// <summary>The request (checked once, at the entry, before routing) or the answer (checked as it streams to the client).</summary>
    public GuardrailPhase On { get; init; } = GuardrailPhase.Request;

    /// <summary>For <c>personal_data</c>: the recognizers that count (<c>protection.masking</c>'s names; all built-in ones when empty).</summary>
    public IReadOnlyList<string> Kinds { get; init; } = [];

    /// <summary>For <c>guard_model</c>: how the mesh asks the model and what happens when it cannot answer.</summary>
    public GuardModelConfig? GuardModel { get; init; }

    /// <summary>
    /// For an answer guardrail: characters of answer held back before they reach the client, so a match up to this
    /// long is found before any of it went out (a block stops the stream before it; a mask replaces it whole).
    /// </summary>
    public int HoldBack { get; init; }
}

public enum GuardrailVerdict
{
    /// <summary>The request is refused with PERMISSION_DENIED naming the guardrail (an answer stops where the rule matched).</summary>
    Block,

    /// <summary>Recorded (route log, metrics); the request goes on.</summary>
    Flag,

    /// <summary>What the guardrail found is replaced by <c>[MASKED:name]</c> (never restored); the request goes on.</summary>
    Mask,
}

/// <summary>What a guardrail reads.</summary>
public enum GuardrailPhase
{
    Request,
    Answer,
}

/// <summary>A guard model: a model id served by the mesh, asked with the caller's conversation and routed like any request.</summary>
/// <param name="Model">The model id (or alias) it is routed to, under the request's own tenant and policy labels.</param>
/// <param name="Deadline">How long the mesh waits for its verdict, within the request's own deadline.</param>
/// <param name="FailClosed">When it cannot answer in time (or answers neither safe nor unsafe): refuse the request (true) or let it go on, recorded (false).</param>
/// <param name="Instructions">The system prompt it gets ahead of the conversation; empty: none (a Llama Guard model brings its own).</param>
public sealed record GuardModelConfig(string Model, TimeSpan Deadline, bool FailClosed, string Instructions);

/// <summary>
/// Masking at the entry node: which recognizers run, custom patterns, and where masking applies. The first rule whose
/// conditions all hold for an attempt decides; with none, <see cref="When"/>.
/// </summary>
/// <param name="Recognizers">The built-in recognizers by name (email, phone, iban, card, ip, us_ssn, pesel, nip, secret).</param>
/// <param name="Custom">Patterns of the operator's own, each with the name its placeholders carry.</param>
public sealed record MaskingConfig(MaskWhen When, IReadOnlyList<string> Recognizers, IReadOnlyList<CustomPattern> Custom, IReadOnlyList<MaskingRule> Rules)
{
    /// <summary>No masking anywhere: what a mesh file without a <c>protection.masking</c> section gets.</summary>
    public static MaskingConfig Off { get; } = new(MaskWhen.Never, [], [], []);

    /// <summary>Whether any request can be masked at all (a rule or the default says so somewhere).</summary>
    public bool CanApply => When != MaskWhen.Never || Rules.Any(r => r.When != MaskWhen.Never);
}

/// <summary>A value the operator's pattern finds; its placeholders read <c>[NAME_1]</c>.</summary>
/// <param name="Name">Letters, digits and underscores; the placeholder's label is its upper case.</param>
/// <param name="Pattern">A .NET regular expression, run in linear time (no backreferences or lookarounds); a group named <c>value</c> masks only that group.</param>
public sealed record CustomPattern(string Name, string Pattern);

/// <summary>Where masking applies for the attempts it matches: each condition left null matches anything.</summary>
/// <param name="Tenant">The request's tenant.</param>
/// <param name="Label">A policy label the request carries (its own or its tenant's).</param>
/// <param name="Pool">The pool the request entered the mesh in.</param>
/// <param name="Backend">The backend id that would serve the attempt (unknown for a route through an integrator: such a rule does not match it).</param>
public sealed record MaskingRule(string? Tenant, string? Label, string? Pool, string? Backend, MaskWhen When);

/// <summary>Where a request is masked: before it leaves its entry subnet, before a cloud backend, both, always or never.</summary>
[Flags]
public enum MaskWhen
{
    Never = 0,

    /// <summary>An attempt that takes the request out of the pool it entered in (through an integrator, or from an integrator into another pool).</summary>
    LeavingSubnet = 1,

    /// <summary>An attempt whose serving backend is a cloud API (openai, anthropic).</summary>
    Cloud = 2,

    Always = 4,
}
