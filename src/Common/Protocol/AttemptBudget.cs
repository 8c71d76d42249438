using System.Globalization;
using Grpc.Core;

namespace LlmRouter.Common.Protocol;

/// <summary>
/// The retry budget of one request across its whole path (DESIGN.md section 11). A request reaches at most
/// <see cref="MaxAttempts"/> backends before its answer is complete (its first attempt, failovers before
/// the first token and continuations after it), however many hops and integrators it crosses:
/// <list type="bullet">
/// <item>the entry node starts with <see cref="MaxAttempts"/>; every forward carries what is left in
/// <see cref="RouterMetadata.Attempts"/>, and the copies that already failed for the request in
/// <see cref="RouterMetadata.Exclude"/> (no hop tries them again);</item>
/// <item>a hop ends with <see cref="RouterMetadata.AttemptsUsed"/> (backends it and the hops below it
/// tried) and <see cref="RouterMetadata.FailedCopies"/> (the copies that failed) in its trailers; the hop
/// above deducts what was used, at least one per forward, and records each failure against the copy
/// that failed;</item>
/// <item>only the entry node continues an answer after its first token; a hop below it reports the
/// partial failure upward instead;</item>
/// <item>a broadcast's racers are one attempt each (so it races at most <see cref="MaxAttempts"/>), with
/// a budget of one below them.</item>
/// </list>
/// </summary>
public static class AttemptBudget
{
    public const int MaxAttempts = 3;

    // A request names at most this many failed copies (at most MaxAttempts per hop, over MaxHops hops).
    private const int MaxNamed = 32;

    /// <summary>The budget a call arrives with: what the hop above left, or the whole budget at the entry.</summary>
    public static int Read(Metadata headers) =>
        int.TryParse(headers.GetValue(RouterMetadata.Attempts), NumberStyles.None, CultureInfo.InvariantCulture, out var left)
            ? Math.Clamp(left, 1, MaxAttempts)
            : MaxAttempts;

    /// <summary>The copies (or routes) that already failed for this request on the way here.</summary>
    public static IReadOnlyList<string> ReadExcluded(Metadata headers) => List(headers.GetValue(RouterMetadata.Exclude));

    /// <summary>Backends a hop below tried for its part of the request (1 when it did not say).</summary>
    public static int ReadUsed(Metadata trailers) =>
        int.TryParse(trailers.GetValue(RouterMetadata.AttemptsUsed), NumberStyles.None, CultureInfo.InvariantCulture, out var used)
            ? Math.Clamp(used, 1, MaxAttempts * ForwardingPath.MaxHops)
            : 1;

    /// <summary>The copies a hop below named as failed.</summary>
    public static IReadOnlyList<string> ReadFailed(Metadata trailers) => List(trailers.GetValue(RouterMetadata.FailedCopies));

    /// <summary>Writes a hop's account into trailers, replacing any account a hop below wrote.</summary>
    public static void Write(Metadata trailers, int used, IReadOnlyCollection<string> failed)
    {
        Remove(trailers, RouterMetadata.AttemptsUsed);
        Remove(trailers, RouterMetadata.FailedCopies);
        trailers.Add(RouterMetadata.AttemptsUsed, used.ToString(CultureInfo.InvariantCulture));
        if (failed.Count > 0)
        {
            trailers.Add(RouterMetadata.FailedCopies, string.Join(",", failed.Take(MaxNamed)));
        }
    }

    private static void Remove(Metadata metadata, string key)
    {
        for (var i = metadata.Count - 1; i >= 0; i--)
        {
            if (string.Equals(metadata[i].Key, key, StringComparison.Ordinal))
            {
                metadata.RemoveAt(i);
            }
        }
    }

    private static IReadOnlyList<string> List(string? value) => string.IsNullOrEmpty(value)
        ? []
        : value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Take(MaxNamed).ToList();
}
