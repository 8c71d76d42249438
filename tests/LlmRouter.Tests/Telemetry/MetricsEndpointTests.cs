using System.Net;
using System.Security.Cryptography.X509Certificates;
using LlmRouter.Common.Identity;
using LlmRouter.Tests.Infrastructure;
using static LlmRouter.Tests.Node.ChatRequests;

namespace LlmRouter.Tests.Telemetry;

/// <summary>
/// A node's Prometheus endpoint (metrics_listen): only /metrics answers on its listener, nothing else of the
/// node answers there, and under https a scraper must present a client certificate from the mesh CA.
/// </summary>
public sealed class MetricsEndpointTests
{
    [Fact]
    public async Task PlainLoopbackEndpoint_ServesMetricsAndNothingElse()
    {
        var port = TestMesh.FreePort();
        await using var node = await TestNode.StartAsync(WithMetrics($"http://127.0.0.1:{port}"));
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };

        await ReadAll(node.Router.Chat(Ask("sim-model", "count me")));
        var metrics = await http.GetStringAsync("/metrics");

        Assert.Contains("llmrouter_requests_total{", metrics, StringComparison.Ordinal);
        Assert.Contains("llmrouter_node=\"n1\"", metrics, StringComparison.Ordinal);
        Assert.Contains("gen_ai_server_time_to_first_token_seconds_bucket{", metrics, StringComparison.Ordinal);
        foreach (var path in new[] { "/", "/v1/models", "/llmrouter.v1.Router/ListModels", "/metricsx" })
        {
            using var response = await http.GetAsync(path);
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        }
    }

    [Fact]
    public async Task HttpsEndpoint_RequiresAClientCertificateFromTheMeshCa()
    {
        var port = TestMesh.FreePort();
        await using var node = await TestNode.StartAsync(WithMetrics($"https://127.0.0.1:{port}"));
        var store = new CertificateStore(node.Mesh.CertificatesDirectory);
        var authority = store.LoadCertificate(CertificateStore.CaName);

        using var withCertificate = Client(authority, store.LoadWithKey(CertificateStore.ClientName));
        using var without = Client(authority, null);
        using var stranger = Client(authority, StrangerCertificate());

        Assert.Contains("llmrouter_members{", await withCertificate.GetStringAsync($"https://127.0.0.1:{port}/metrics"), StringComparison.Ordinal);
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => without.GetStringAsync($"https://127.0.0.1:{port}/metrics"));
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => stranger.GetStringAsync($"https://127.0.0.1:{port}/metrics"));
    }

    private static string WithMetrics(string listen) => MeshYaml.SingleNode(MeshYaml.Simulated())
        .Replace("    listen: https://", $"    metrics_listen: {listen}\n        listen: https://", StringComparison.Ordinal);

    private static HttpClient Client(X509Certificate2 authority, X509Certificate2? certificate) => new(new SocketsHttpHandler
    {
        SslOptions = new System.Net.Security.SslClientAuthenticationOptions
        {
            RemoteCertificateValidationCallback = (_, presented, _, _) => presented is X509Certificate2 server && MeshChannels.ChainsTo(server, authority),
            ClientCertificates = certificate is null ? null : [certificate],
        },
    });

    /// <summary>A certificate of a CA the mesh does not know.</summary>
    private static X509Certificate2 StrangerCertificate()
    {
        using var key = System.Security.Cryptography.ECDsa.Create();
        var request = new CertificateRequest("CN=stranger", key, System.Security.Cryptography.HashAlgorithmName.SHA256);
        var now = TimeProvider.System.GetUtcNow();
        using var created = request.CreateSelfSigned(now.AddMinutes(-1), now.AddHours(1));
        return X509CertificateLoader.LoadPkcs12(created.Export(X509ContentType.Pfx), null);
    }
}
