using LlmRouter.V1;

namespace LlmRouter.Common.Gossip;

/// <summary>
/// What a member's own records may say (DESIGN.md section 12): a record describes only the member that
/// signed it, in the pool it is a member of, and stays within bounds (entries, time to live, and the values
/// routing scores: a quality of 1e9 or a NaN would win every ranking). Every receiver checks every record
/// against these rules after its signature, also when a record was relayed, and refuses the whole record
/// when one entry breaks them; a member checks its own records before it publishes them.
/// </summary>
public static class RecordRules
{
    /// <summary>Most entries (models, backends, routes) one record may carry.</summary>
    public const int MaxEntries = 4096;

    /// <summary>Longest time to live a load or route record may claim: a record outliving its member's silence this long would mislead.</summary>
    public static readonly TimeSpan MaxTimeToLive = TimeSpan.FromMinutes(5);

    /// <summary>Why a model record signed by <paramref name="signer"/> of <paramref name="pool"/> is refused, or null when it is valid.</summary>
    public static string? Models(ModelRecord record, string signer, string pool)
    {
        if (record.Models.Count > MaxEntries)
        {
            return $"model record of '{signer}' lists {record.Models.Count} models, more than {MaxEntries}";
        }

        foreach (var model in record.Models)
        {
            if (!string.Equals(model.Node, signer, StringComparison.Ordinal) || !string.Equals(model.Pool, pool, StringComparison.Ordinal))
            {
                return $"model record of '{signer}' (pool '{pool}') describes model '{model.Id}' of node '{model.Node}' in pool '{model.Pool}': a member's records describe only itself";
            }

            if (Values(model) is { } problem)
            {
                return $"model record of '{signer}': model '{model.Id}' {problem}";
            }
        }

        return null;
    }

    /// <summary>Why a load record signed by <paramref name="signer"/> is refused, or null when it is valid.</summary>
    public static string? Load(LoadRecord record, string signer)
    {
        if (record.Backends.Count > MaxEntries)
        {
            return $"load record of '{signer}' lists {record.Backends.Count} backends, more than {MaxEntries}";
        }

        foreach (var backend in record.Backends)
        {
            if (!NonNegative(backend.TimeToFirstTokenMs) || !NonNegative(backend.TokensPerSecond) || !Fraction(backend.ErrorRate))
            {
                return $"load record of '{signer}': backend '{backend.Backend}' has time to first token {backend.TimeToFirstTokenMs} ms, {backend.TokensPerSecond} tokens/s, error rate {backend.ErrorRate} (finite, not negative, error rate 0..1)";
            }
        }

        return TimeToLive(record.TtlMs, "load", signer);
    }

    /// <summary>
    /// Why a route log checkpoint signed by <paramref name="signer"/> is refused, or null when it is well formed: the
    /// signer's own, a SHA-256 root, a P-256 signature, a certificate of sensible size. (Whether the checkpoint's own
    /// signature holds is for whoever verifies the log: a peer keeps what the member gossiped, true or not.)
    /// </summary>
    public static string? Checkpoint(RouteLogCheckpoint record, string signer)
    {
        if (!string.Equals(record.Member, signer, StringComparison.Ordinal))
        {
            return $"route log checkpoint signed by '{signer}' describes '{record.Member}': a member's records describe only itself";
        }

        // A time a date can hold (a year before 10000): a peer keeps the checkpoint as a date.
        return record.TimeMs is <= 0 or > 253_402_300_799_999 ? $"route log checkpoint of '{signer}' has a time of {record.TimeMs} ms, outside what a date holds"
            : record.Root.Length != 32 ? $"route log checkpoint of '{signer}' has a root of {record.Root.Length} bytes (SHA-256: 32)"
            : record.Signature.Length is 0 or > 132 ? $"route log checkpoint of '{signer}' has a signature of {record.Signature.Length} bytes"
            : record.Certificate.Length is 0 or > 8192 ? $"route log checkpoint of '{signer}' has a certificate of {record.Certificate.Length} bytes (at most 8192)"
            : null;
    }

    /// <summary>
    /// Why a usage record signed by <paramref name="signer"/> is refused, or null when it is valid: it is the signer's
    /// own slot (or, from an integrator, what it relays), names each tenant once per window, with counts that fit
    /// every receiver's arithmetic. (A member can still claim a tenant's whole cap and so hold it there until the
    /// window ends; docs/access.md says what a lying member can do.)
    /// </summary>
    public static string? Usage(UsageRecord record, string signer, MemberRole role = MemberRole.Node)
    {
        if (!string.Equals(record.Member, signer, StringComparison.Ordinal))
        {
            return $"usage record signed by '{signer}' describes '{record.Member}': a member's records describe only itself";
        }

        if (record.Origin.Length > 0 && (role != MemberRole.Integrator || !(record.Origin.StartsWith("pool:", StringComparison.Ordinal) || record.Origin.StartsWith("member:", StringComparison.Ordinal))))
        {
            return $"usage record of '{signer}' relays origin '{record.Origin}': only an integrator relays usage, from 'pool:NAME' or 'member:ID'";
        }

        foreach (var (window, entries) in new[] { ("minute", record.MinuteUsage), ("day", record.DayUsage) })
        {
            if (entries.Count > MaxEntries)
            {
                return $"usage record of '{signer}' lists {entries.Count} tenants in its {window}, more than {MaxEntries}";
            }

            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var usage in entries)
            {
                if (usage.Tenant.Length == 0 || !seen.Add(usage.Tenant))
                {
                    return $"usage record of '{signer}' names tenant '{usage.Tenant}' twice or not at all in its {window}";
                }

                if (usage.Requests > MaxCount || usage.InputTokens > MaxCount || usage.OutputTokens > MaxCount || usage.SpendMicroUsd > MaxCount
                    || usage.Ended > MaxCount || usage.Members > MaxCount || usage.Charged > MaxCount || usage.Asked > MaxCount)
                {
                    return $"usage record of '{signer}': tenant '{usage.Tenant}' counts more than {MaxCount} in its {window}";
                }
            }
        }

        return null;
    }

    /// <summary>Largest count a usage record may carry: 2^53, exact in every client's numbers and far beyond any day of one member.</summary>
    public const ulong MaxCount = 1UL << 53;

    /// <summary>
    /// Why a route record signed by the integrator <paramref name="signer"/> into <paramref name="pool"/> is
    /// refused, or null when it is valid: each route names the integrator itself as the model's node and the
    /// pool it is advertised into, and a path of distinct pools that leads out of that pool, never back into it.
    /// </summary>
    public static string? Routes(RouteRecord record, string signer, string pool)
    {
        if (record.Routes.Count > MaxEntries)
        {
            return $"route record of '{signer}' lists {record.Routes.Count} routes, more than {MaxEntries}";
        }

        foreach (var route in record.Routes)
        {
            var model = route.Model;
            if (model is null)
            {
                return $"route record of '{signer}' has a route without a model";
            }

            if (!string.Equals(model.Node, signer, StringComparison.Ordinal) || !string.Equals(model.Pool, pool, StringComparison.Ordinal))
            {
                return $"route record of '{signer}' (pool '{pool}') names node '{model.Node}' in pool '{model.Pool}' for model '{model.Id}': a route names only the integrator that signed it";
            }

            if (route.Pools.Count == 0 || route.Pools.Contains(pool) || route.Pools.Distinct(StringComparer.Ordinal).Count() != route.Pools.Count)
            {
                return $"route record of '{signer}' has a route to '{model.Id}' through [{string.Join(", ", route.Pools)}]: a path must name distinct pools and never the pool it is advertised into";
            }

            if ((Values(model) ?? (Fraction(route.LeastLoad) ? null : $"has least load {route.LeastLoad} (0..1)")) is { } problem)
            {
                return $"route record of '{signer}': route to '{model.Id}' {problem}";
            }
        }

        return TimeToLive(record.TtlMs, "route", signer);
    }

    /// <summary>What is wrong with the values routing scores a model by, or null: quality 0..1, prices finite and not negative.</summary>
    private static string? Values(ModelInfo model) =>
        !Fraction(model.Quality) ? $"has quality {model.Quality} (0..1)"
        : model.Price is { } price && (!NonNegative(price.InputPerMillion) || !NonNegative(price.OutputPerMillion))
            ? $"has price {price.InputPerMillion}/{price.OutputPerMillion} per million tokens (finite, not negative)"
        : null;

    private static bool Fraction(double value) => value is >= 0 and <= 1;

    private static bool NonNegative(double value) => double.IsFinite(value) && value >= 0;

    private static string? TimeToLive(uint ttlMs, string kind, string signer) =>
        ttlMs == 0 || TimeSpan.FromMilliseconds(ttlMs) > MaxTimeToLive
            ? $"{kind} record of '{signer}' claims a time to live of {ttlMs} ms (allowed: 1 ms to {MaxTimeToLive.TotalMinutes:0} min)"
            : null;
}
