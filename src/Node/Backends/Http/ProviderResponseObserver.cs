using System.Net;
using System.Runtime.CompilerServices;

namespace LlmRouter.Node.Backends.Http;

/// <summary>
/// Sees every HTTP response of a provider SDK and keeps what the SDKs' exceptions drop: the status and the
/// <c>retry-after</c> hint of a refusal. A request opens a scope with <see cref="BeginScope"/>; the scope
/// flows into the SDK's calls through an AsyncLocal, so concurrent requests never see each other's replies.
/// </summary>
internal sealed class ProviderResponseObserver : DelegatingHandler
{
    private static readonly AsyncLocal<StrongBox<ProviderRefusal?>?> Current = new();

    public ProviderResponseObserver(HttpMessageHandler inner)
        : base(inner)
    {
    }

    /// <summary>Starts observing the provider calls made from this async flow.</summary>
    public static StrongBox<ProviderRefusal?> BeginScope()
    {
        var box = new StrongBox<ProviderRefusal?>();
        Current.Value = box;
        return box;
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode && Current.Value is { } box)
        {
            box.Value = new ProviderRefusal(response.StatusCode, RetryAfter(response));
        }

        return response;
    }

    private static TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        var header = response.Headers.RetryAfter;
        if (header?.Delta is { } delta)
        {
            return delta;
        }

        // Some providers send milliseconds in a header of their own (OpenAI: retry-after-ms).
        if (response.Headers.TryGetValues("retry-after-ms", out var values)
            && double.TryParse(values.FirstOrDefault(), System.Globalization.CultureInfo.InvariantCulture, out var milliseconds))
        {
            return TimeSpan.FromMilliseconds(milliseconds);
        }

        return null;
    }
}

/// <summary>A provider's refusal as seen on the wire.</summary>
internal sealed record ProviderRefusal(HttpStatusCode Status, TimeSpan? RetryAfter);
