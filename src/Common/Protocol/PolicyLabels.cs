namespace LlmRouter.Common.Protocol;

/// <summary>Policy labels a request may carry; each one removes candidates it forbids.</summary>
internal static class PolicyLabels
{
    /// <summary>Never a cloud backend: the request stays on the premises.</summary>
    public static string OnPremOnly => "on-prem-only";

    /// <summary>Never leaves the entry subnet.</summary>
    public static string SubnetOnly => "subnet-only";

    public static IReadOnlyList<string> All { get; } = [OnPremOnly, SubnetOnly];
}
