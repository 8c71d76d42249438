using LlmRouter.Common.Protocol;
using Grpc.Core;
using LlmRouter.Common.Configuration;
using LlmRouter.V1;

namespace LlmRouter.Common.Pipeline;

/// <summary>
/// Checks a request before any work is done. The first problem found is reported as INVALID_ARGUMENT with
/// the field's path (for example <c>messages[2].role</c>) and what to send instead.
/// </summary>
internal static class RequestValidator
{
    private const int MaxIdempotencyKeyLength = 256;
    private const int MaxStopSequences = 16;
    // Racers are attempts: a broadcast races at most as many as a request may try (AttemptBudget).
    private const uint MaxBroadcastFanout = AttemptBudget.MaxAttempts;
    private const int MaxEmbedInputs = 2048;

    /// <param name="checkSchemas">Check JSON Schemas against their meta-schema: at the entry only (a hop below gets what the entry checked; the check is the costly part).</param>
    public static void Validate(ChatRequest request, ServerSettings limits, bool checkSchemas = true)
    {
        RequireModel(request.Model);
        if (request.Messages.Count == 0)
        {
            throw Invalid("messages: at least one message is required");
        }

        if (request.Messages.Count > limits.MaxMessages)
        {
            throw Invalid($"messages: {request.Messages.Count} messages exceed this mesh's limit of {limits.MaxMessages} (server.max_messages)");
        }

        ChatContentValidator.Validate(request, limits, checkSchemas);
        ValidateSampling(request.Sampling);
        ValidateRequirements(request.Requirements);
        ValidateWeights(request.Weights);
        ValidateLabels(request.PolicyLabels);
        if (!Enum.IsDefined(request.Mode))
        {
            throw Invalid($"mode: unknown routing mode {(int)request.Mode} (use ROUTING_MODE_AUTO, ROUTING_MODE_LOCAL or ROUTING_MODE_BROADCAST)");
        }

        if (request.BroadcastFanout > MaxBroadcastFanout)
        {
            throw Invalid($"broadcast_fanout: {request.BroadcastFanout} is over the limit of {MaxBroadcastFanout} (a request tries at most {AttemptBudget.MaxAttempts} backends)");
        }

        if (request.IdempotencyKey.Length > MaxIdempotencyKeyLength)
        {
            throw Invalid($"idempotency_key: {request.IdempotencyKey.Length} characters, at most {MaxIdempotencyKeyLength} allowed");
        }
    }

    public static void Validate(EmbedRequest request)
    {
        RequireModel(request.Model);
        if (request.Inputs.Count == 0)
        {
            throw Invalid("inputs: at least one text is required");
        }

        if (request.Inputs.Count > MaxEmbedInputs)
        {
            throw Invalid($"inputs: {request.Inputs.Count} texts exceed the limit of {MaxEmbedInputs} per call");
        }

        for (var i = 0; i < request.Inputs.Count; i++)
        {
            if (string.IsNullOrEmpty(request.Inputs[i]))
            {
                throw Invalid($"inputs[{i}]: must not be empty");
            }
        }

        ValidateLabels(request.PolicyLabels);
    }

    private static void RequireModel(string model)
    {
        if (string.IsNullOrWhiteSpace(model))
        {
            throw Invalid("model: required: a model id, an alias, or \"auto\" (ListModels lists the models)");
        }
    }

    private static void ValidateSampling(SamplingParameters? sampling)
    {
        if (sampling is null)
        {
            return;
        }

        if (sampling.HasTemperature && sampling.Temperature is < 0 or > 2 or float.NaN)
        {
            throw Invalid($"sampling.temperature: {sampling.Temperature} is outside 0..2");
        }

        if (sampling.HasTopP && sampling.TopP is <= 0 or > 1 or float.NaN)
        {
            throw Invalid($"sampling.top_p: {sampling.TopP} is outside (0, 1]");
        }

        if (sampling.HasMaxTokens && sampling.MaxTokens == 0)
        {
            throw Invalid("sampling.max_tokens: must be at least 1 (leave it unset for the backend's default)");
        }

        if (sampling.HasPresencePenalty && sampling.PresencePenalty is < -2 or > 2 or float.NaN)
        {
            throw Invalid($"sampling.presence_penalty: {sampling.PresencePenalty} is outside -2..2");
        }

        if (sampling.HasFrequencyPenalty && sampling.FrequencyPenalty is < -2 or > 2 or float.NaN)
        {
            throw Invalid($"sampling.frequency_penalty: {sampling.FrequencyPenalty} is outside -2..2");
        }

        if (sampling.Stop.Count > MaxStopSequences || sampling.Stop.Any(string.IsNullOrEmpty))
        {
            throw Invalid($"sampling.stop: at most {MaxStopSequences} non-empty sequences");
        }
    }

    private static void ValidateRequirements(ModelRequirements? requirements)
    {
        if (requirements is not null && requirements.MinQuality is < 0 or > 1 or double.NaN)
        {
            throw Invalid($"requirements.min_quality: {requirements.MinQuality} is outside 0..1");
        }
    }

    private static void ValidateWeights(ScoreWeights? weights)
    {
        if (weights is null)
        {
            return;
        }

        (string Name, bool Has, double Value)[] terms =
        [
            ("quality", weights.HasQuality, weights.Quality), ("price", weights.HasPrice, weights.Price),
            ("latency", weights.HasLatency, weights.Latency), ("load", weights.HasLoad, weights.Load),
            ("warm", weights.HasWarm, weights.Warm), ("locality", weights.HasLocality, weights.Locality),
        ];
        foreach (var (name, has, value) in terms)
        {
            if (has && value is < 0 or > 100 or double.NaN)
            {
                throw Invalid($"weights.{name}: {value} is outside 0..100");
            }
        }
    }

    private static void ValidateLabels(IList<string> labels)
    {
        for (var i = 0; i < labels.Count; i++)
        {
            if (!PolicyLabels.All.Contains(labels[i], StringComparer.Ordinal))
            {
                throw Invalid($"policy_labels[{i}]: unknown label '{labels[i]}' (known: {string.Join(", ", PolicyLabels.All)})");
            }
        }
    }

    private static RpcException Invalid(string message) => new(new Status(StatusCode.InvalidArgument, message));
}
