using LlmRouter.Common.Configuration;
using LlmRouter.V1;

namespace LlmRouter.Common.Routing;

/// <summary>
/// The weighted score of DESIGN.md section 6: each term is normalised to 0..1 (higher is better) and the
/// score is the weighted mean. A tiny random jitter breaks ties, so nodes that see the same idle backend do
/// not all pick it in the same order.
/// </summary>
internal sealed class CandidateScorer(TimeProvider time, Func<double> random)
{
    // Assumed time to first token of a backend that has not answered yet.
    private static readonly TimeSpan UnmeasuredTimeToFirstToken = TimeSpan.FromMilliseconds(500);

    // A model used within this window counts as warm (loaded in memory).
    private static readonly TimeSpan WarmWindow = TimeSpan.FromMinutes(5);

    private const double TieJitter = 1e-6;

    // A pool member is one hop away: a little farther than this node's own backends.
    private const double RemoteLocality = 0.5;

    // How full a backend with no fresh load record is assumed to be.
    private const double UnknownOccupancy = 0.5;

    // Assumed round trip of one forwarding hop inside a pool.
    private static readonly TimeSpan HopRoundTrip = TimeSpan.FromMilliseconds(2);

    public static ScoreWeightSet Weights(ScoreWeightSet profile, ScoreWeights? overrides) => overrides is null
        ? profile
        : new ScoreWeightSet(
            overrides.HasQuality ? overrides.Quality : profile.Quality,
            overrides.HasPrice ? overrides.Price : profile.Price,
            overrides.HasLatency ? overrides.Latency : profile.Latency,
            overrides.HasLoad ? overrides.Load : profile.Load,
            overrides.HasWarm ? overrides.Warm : profile.Warm,
            overrides.HasLocality ? overrides.Locality : profile.Locality);

    /// <summary>The injected source of chance (tests fix it), for tie breaking and sampling.</summary>
    public double NextRandom() => random();

    public double Score(RouteCandidate candidate, ScoreWeightSet weights, double highestPrice, int forwarded) =>
        Weighted(Terms(candidate, highestPrice, forwarded), weights) + (random() * TieJitter);

    /// <summary>The candidate's normalised terms, each 0..1, higher is better.</summary>
    public ScoreTermValues Terms(RouteCandidate candidate, double highestPrice, int forwarded)
    {
        var price = BlendedPrice(candidate);
        var (expected, occupancy, warm) = candidate.Local is { } local ? LocalTerms(local) : RemoteTerms(candidate, forwarded);
        return new ScoreTermValues(
            Quality: candidate.Quality,
            Price: highestPrice > 0 ? 1 - (price / highestPrice) : 1,
            Latency: 1 / (1 + expected.TotalSeconds),
            Load: 1 - Math.Min(1, occupancy),
            Warm: warm ? 1 : 0,
            Locality: candidate.IsLocal ? 1 : candidate.IsRoute ? RemoteLocality / (1 + candidate.ViaPools.Count) : RemoteLocality);
    }

    /// <summary>The weighted mean of the terms.</summary>
    public static double Weighted(ScoreTermValues terms, ScoreWeightSet weights)
    {
        var total = weights.Quality + weights.Price + weights.Latency + weights.Load + weights.Warm + weights.Locality;
        var weighted = (weights.Quality * terms.Quality)
            + (weights.Price * terms.Price)
            + (weights.Latency * terms.Latency)
            + (weights.Load * terms.Load)
            + (weights.Warm * terms.Warm)
            + (weights.Locality * terms.Locality);
        return total > 0 ? weighted / total : 0;
    }

    private (TimeSpan Expected, double Occupancy, bool Warm) LocalTerms(ILocalTarget local)
    {
        var running = local.Running;
        var expected = (local.TimeToFirstToken ?? UnmeasuredTimeToFirstToken)
            + (running >= local.MaxConcurrency ? local.EstimatedWait : TimeSpan.Zero);
        var occupancy = (double)(running + local.Queued) / Math.Max(1, local.MaxConcurrency);
        var lastServed = local.LastServedTimestamp;
        return (expected, occupancy, lastServed != 0 && time.GetElapsedTime(lastServed) < WarmWindow);
    }

    /// <summary>
    /// A remote backend's terms come from its gossiped load plus what this node has forwarded to it since.
    /// Unknown load (no fresh record) scores as half full: never as idle.
    /// </summary>
    private static (TimeSpan Expected, double Occupancy, bool Warm) RemoteTerms(RouteCandidate candidate, int forwarded)
    {
        if (candidate.Load is not { } load)
        {
            return (UnmeasuredTimeToFirstToken + HopRoundTrip, UnknownOccupancy, false);
        }

        var max = Math.Max(1u, load.MaxConcurrency);
        var busy = load.InFlight + load.Queued + (uint)forwarded;
        var timeToFirstToken = load.TimeToFirstTokenMs > 0 ? TimeSpan.FromMilliseconds(load.TimeToFirstTokenMs) : UnmeasuredTimeToFirstToken;
        var queueing = busy >= max ? timeToFirstToken * ((busy - max + 1.0) / max) : TimeSpan.Zero;
        var hops = HopRoundTrip * (1 + candidate.ViaPools.Count);
        return (timeToFirstToken + queueing + hops, (double)busy / max, candidate.WarmInLoad);
    }

    /// <summary>Price of a typical exchange: output tokens cost more and a request makes fewer of them.</summary>
    public static double BlendedPrice(RouteCandidate model) => (model.InputPricePerMillion * 3 + model.OutputPricePerMillion) / 4;
}

/// <summary>A candidate's score terms, each normalised to 0..1 (higher is better).</summary>
internal readonly record struct ScoreTermValues(double Quality, double Price, double Latency, double Load, double Warm, double Locality);
