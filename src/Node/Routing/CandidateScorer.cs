using LlmRouter.Common.Configuration;
using LlmRouter.Node.Catalog;
using LlmRouter.V1;

namespace LlmRouter.Node.Routing;

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

    public static ScoreWeightSet Weights(ScoreWeightSet profile, ScoreWeights? overrides) => overrides is null
        ? profile
        : new ScoreWeightSet(
            overrides.HasQuality ? overrides.Quality : profile.Quality,
            overrides.HasPrice ? overrides.Price : profile.Price,
            overrides.HasLatency ? overrides.Latency : profile.Latency,
            overrides.HasLoad ? overrides.Load : profile.Load,
            overrides.HasWarm ? overrides.Warm : profile.Warm,
            overrides.HasLocality ? overrides.Locality : profile.Locality);

    public double Score(LocalModel candidate, ScoreWeightSet weights, double highestPrice)
    {
        var model = candidate.Model;
        var backend = candidate.Backend;
        var price = BlendedPrice(model);
        var priceTerm = highestPrice > 0 ? 1 - (price / highestPrice) : 1;

        var admission = backend.Admission;
        var expected = (backend.Stats.TimeToFirstToken ?? UnmeasuredTimeToFirstToken)
            + (admission.Running >= admission.MaxConcurrency ? admission.EstimatedWait : TimeSpan.Zero);
        var latencyTerm = 1 / (1 + expected.TotalSeconds);

        var occupancy = (double)(admission.Running + admission.Queued) / Math.Max(1, admission.MaxConcurrency);
        var loadTerm = 1 - Math.Min(1, occupancy);

        var lastServed = backend.Stats.LastServedTimestamp;
        var warmTerm = lastServed != 0 && time.GetElapsedTime(lastServed) < WarmWindow ? 1 : 0;

        // Local backends are the closest there is; remote candidates (issue 4) score lower here.
        const double LocalityTerm = 1;

        var total = weights.Quality + weights.Price + weights.Latency + weights.Load + weights.Warm + weights.Locality;
        var weighted = (weights.Quality * model.Quality)
            + (weights.Price * priceTerm)
            + (weights.Latency * latencyTerm)
            + (weights.Load * loadTerm)
            + (weights.Warm * warmTerm)
            + (weights.Locality * LocalityTerm);
        return (total > 0 ? weighted / total : 0) + (random() * TieJitter);
    }

    /// <summary>Price of a typical exchange: output tokens cost more and a request makes fewer of them.</summary>
    public static double BlendedPrice(ModelConfig model) => (model.InputPricePerMillion * 3 + model.OutputPricePerMillion) / 4;
}
