using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using LlmRouter.Tests.Infrastructure;

namespace LlmRouter.Tests.Ingress;

/// <summary>
/// The HTTP ingress on the wire: raw SSE as curl receives it, tokens flushed while the backend is still
/// generating, a closed connection cancelling the backend, routing headers in and route headers out, and
/// every bad request refused with the right status and the provider's error shape naming the field.
/// </summary>
public sealed class HttpIngressTests
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(60) };

    private static Task<TestNode> Node(string settings = "time_to_first_token: 0ms\ntokens_per_second: 0", string server = "") =>
        TestNode.StartAsync(MeshYaml.SingleNode(MeshYaml.Simulated(settings: settings), server), httpIngress: true);

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    private static async Task<(HttpStatusCode Status, JsonElement Body)> PostAsync(TestNode node, string path, string body, params (string Name, string Value)[] headers)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(node.IngressAddress!, path)) { Content = Json(body) };
        foreach (var (name, value) in headers)
        {
            request.Headers.Add(name, value);
        }

        using var response = await Http.SendAsync(request);
        return (response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
    }

    [Fact]
    public async Task Curl_StreamedChat_RawSseExactlyAsOpenAIsReference()
    {
        await using var node = await Node();
        var start = new ProcessStartInfo("curl", ["-sN", "--max-time", "30", "-H", "content-type: application/json", "-d",
            """{"model":"sim-model","stream":true,"stream_options":{"include_usage":true},"max_tokens":3,"messages":[{"role":"user","content":"hi"}]}""",
            new Uri(node.IngressAddress!, "/v1/chat/completions").ToString()])
        { RedirectStandardOutput = true };
        using var curl = Process.Start(start)!;
        var body = await curl.StandardOutput.ReadToEndAsync();
        await curl.WaitForExitAsync();

        Assert.EndsWith("\n\ndata: [DONE]\n\n", body);
        var events = body.Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.All(events, e => Assert.StartsWith("data: ", e));
        var chunks = events[..^1].Select(e => JsonDocument.Parse(e["data: ".Length..]).RootElement).ToList();
        // Role chunk, three tokens, finish chunk, usage chunk.
        Assert.Equal(6, chunks.Count);
        Assert.All(chunks, c => Assert.Equal("chat.completion.chunk", c.GetProperty("object").GetString()));
        Assert.Single(chunks.Select(c => c.GetProperty("id").GetString()).Distinct());
        Assert.Equal("assistant", chunks[0].GetProperty("choices")[0].GetProperty("delta").GetProperty("role").GetString());
        Assert.All(chunks[1..4], c => Assert.NotEmpty(c.GetProperty("choices")[0].GetProperty("delta").GetProperty("content").GetString()!));
        Assert.Equal("length", chunks[4].GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.Equal(JsonValueKind.Null, chunks[4].GetProperty("usage").ValueKind);
        Assert.Equal(0, chunks[5].GetProperty("choices").GetArrayLength());
        Assert.Equal(3, chunks[5].GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    [Fact]
    public async Task Stream_BackendStallsAfterTwoTokens_BothArriveThenClosingTheConnectionCancelsTheBackend()
    {
        await using var node = await Node("time_to_first_token: 0ms\ntokens_per_second: 0\nstall_after_tokens: 2");
        var counters = node.Catalog.Current.Backends[0].Simulation!;
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(node.IngressAddress!, "/v1/messages"))
        {
            Content = Json("""{"model":"sim-model","max_tokens":50,"stream":true,"messages":[{"role":"user","content":"hi"}]}"""),
        };
        var response = await Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        var reader = new StreamReader(await response.Content.ReadAsStreamAsync());

        // The backend is stalled after two tokens: they can only be here if each was flushed as it came.
        var deltas = 0;
        while (deltas < 2 && await reader.ReadLineAsync() is { } line)
        {
            deltas += line.Contains("\"text_delta\"", StringComparison.Ordinal) ? 1 : 0;
        }

        Assert.Equal(2, deltas);
        Assert.Equal(1, counters.ActiveGenerations);
        response.Dispose();

        await Eventually.WaitUntil(() => counters.CancelledGenerations == 1, "the backend cancelled once the client closed the connection",
            () => $"{counters.ActiveGenerations} active, {counters.CancelledGenerations} cancelled");
        Assert.Equal(0, counters.TokensAfterCancellation);
    }

    [Fact]
    public async Task RoutingHeaders_LabelsAndModeApplied_RouteComesBackInHeaders()
    {
        await using var node = await Node();
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(node.IngressAddress!, "/v1/chat/completions"))
        {
            Content = Json("""{"model":"sim-model","max_tokens":2,"messages":[{"role":"user","content":"hi"}]}"""),
        };
        request.Headers.Add("x-llmrouter-mode", "local");
        request.Headers.Add("x-llmrouter-labels", "on-prem-only, subnet-only");
        request.Headers.Add("x-request-id", "my-request-7");

        using var response = await Http.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("my-request-7", response.Headers.GetValues("x-request-id").Single());
        Assert.Equal("n1", response.Headers.GetValues("x-llmrouter-route").Single());
        Assert.Equal("sim", response.Headers.GetValues("x-llmrouter-backend").Single());
        Assert.StartsWith("n1;ttft=", response.Headers.GetValues("x-llmrouter-hops").Single());

        var (status, body) = await PostAsync(node, "/v1/chat/completions", """{"model":"sim-model","messages":[{"role":"user","content":"hi"}]}""", ("x-llmrouter-mode", "everywhere"));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("x-llmrouter-mode", body.GetProperty("error").GetProperty("param").GetString());
    }

    public static TheoryData<string, string, int, string> BadOpenAIRequests => new()
    {
        { """{"model":"sim-model","messages":[{"role":"user","content":"hi"}""", "", 400, "body: not valid JSON" },
        { """["not an object"]""", "", 400, "body: must be an object, not an array" },
        { """{"model":"sim-model","messages":[{"role":"user","content":"hi"}],"temperature":"hot"}""", "temperature", 400, "temperature: must be a number, not a string" },
        { """{"model":"sim-model","messages":[{"role":"user","content":"hi"}],"frobnicate":true}""", "frobnicate", 400, "frobnicate: unknown field" },
        { """{"model":"sim-model","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{}}]}]}""", "messages[0].content[0].type", 400, "messages[0].content[0].type: 'input_audio' is not a part type" },
        { """{"model":"sim-model","messages":[{"role":"user","content":"hi"},{"role":"tool","tool_call_id":"call_9","content":"18 C"}]}""", "messages[1].tool_call_id", 400, "messages[1].tool_call_id: 'call_9' names no tool call" },
        { """{"model":"sim-model","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]}""", "tools", 400, "tools: no copy of 'sim-model' in reach has the 'tools' feature" },
        { """{"model":"sim-model","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/bmp;base64,Qk0="}}]}]}""", "messages[0].content[0].image_url.url", 400, "messages[0].content[0].image_url.url: 'image/bmp' is not supported" },
        { """{"model":"no-such","messages":[{"role":"user","content":"hi"}]}""", "model", 404, "model: no node in reach serves 'no-such'" },
        { """{"model":"sim-model","messages":[{"role":"user","content":"hi"}],"n":2}""", "n", 400, "n: only 1 choice per request is supported" },
        { """{"model":"sim-model","messages":[{"role":"user","content":"lone \ud800 surrogate"}]}""", "messages[0].content", 400, "messages[0].content: not valid text" },
    };

    [Theory]
    [MemberData(nameof(BadOpenAIRequests))]
    public async Task OpenAIChat_BadRequest_StatusAndErrorNamingTheField(string body, string param, int status, string message)
    {
        await using var node = await Node();

        var (code, error) = await PostAsync(node, "/v1/chat/completions", body);

        Assert.Equal(status, (int)code);
        Assert.StartsWith(message, error.GetProperty("error").GetProperty("message").GetString());
        Assert.Equal(param.Length == 0 ? null : param, error.GetProperty("error").GetProperty("param").GetString());
        Assert.Equal(status == 404 ? "not_found_error" : "invalid_request_error", error.GetProperty("error").GetProperty("type").GetString());
    }

    [Fact]
    public async Task AnthropicMessages_BadRequests_AnthropicErrorShape()
    {
        await using var node = await Node();

        var (noMax, missing) = await PostAsync(node, "/v1/messages", """{"model":"sim-model","messages":[{"role":"user","content":"hi"}]}""");
        var (system, wrongRole) = await PostAsync(node, "/v1/messages", """{"model":"sim-model","max_tokens":5,"messages":[{"role":"system","content":"hi"}]}""");

        Assert.Equal(HttpStatusCode.BadRequest, noMax);
        Assert.Equal("error", missing.GetProperty("type").GetString());
        Assert.Equal("invalid_request_error", missing.GetProperty("error").GetProperty("type").GetString());
        Assert.StartsWith("max_tokens: required", missing.GetProperty("error").GetProperty("message").GetString());
        Assert.Equal(HttpStatusCode.BadRequest, system);
        Assert.StartsWith("messages[0].role: 'system' is not a role", wrongRole.GetProperty("error").GetProperty("message").GetString());
    }

    [Fact]
    public async Task AnthropicMessages_PipelineRefusal_NamesTheFieldAsTheClientSentIt()
    {
        await using var node = await Node();

        // A system prompt first and a tool result inside a user message: the Router API's messages are numbered
        // differently, and the refusal must still name the client's own block.
        var (status, error) = await PostAsync(node, "/v1/messages", """
            {"model":"sim-model","max_tokens":5,"system":"be brief","messages":[
              {"role":"user","content":"hi"},
              {"role":"user","content":[{"type":"text","text":"here"},{"type":"tool_result","tool_use_id":"toolu_9","content":"18 C"}]}]}
            """);

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("messages[1].content[1].tool_use_id: 'toolu_9' names no tool call of an earlier assistant message", error.GetProperty("error").GetProperty("message").GetString());
    }

    [Fact]
    public async Task Tenant_OverItsQuota_429WithRetryAfterNamingTheLimitAndTheSetting()
    {
        var yaml = MeshYaml.SingleNode(MeshYaml.Simulated());
        var limited = yaml.Replace("    clients: [client]\n", "    clients: [client]\n    limits: { requests_per_minute: 1 }\n", StringComparison.Ordinal);
        Assert.NotEqual(yaml, limited);
        await using var node = await TestNode.StartAsync(limited, httpIngress: true);
        const string body = """{"model":"sim-model","messages":[{"role":"user","content":"hello"}]}""";

        // The cap is per UTC minute: should the minute turn between the two requests, they are sent again.
        for (var attempt = 0; ; attempt++)
        {
            var minute = TimeProvider.System.GetUtcNow().ToUnixTimeSeconds() / 60;
            using var first = await Http.PostAsync(new Uri(node.IngressAddress!, "/v1/chat/completions"), Json(body));
            using var second = await Http.PostAsync(new Uri(node.IngressAddress!, "/v1/chat/completions"), Json(body));
            if (TimeProvider.System.GetUtcNow().ToUnixTimeSeconds() / 60 != minute && attempt < 3)
            {
                continue;
            }

            Assert.Equal(HttpStatusCode.TooManyRequests, second.StatusCode);
            var retryAfter = second.Headers.RetryAfter?.Delta;
            Assert.NotNull(retryAfter);
            Assert.InRange(retryAfter!.Value, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60));
            var message = JsonDocument.Parse(await second.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetProperty("message").GetString();
            Assert.Contains("tenant 'everyone' is at its requests_per_minute (1; 1 requests this minute across the mesh)", message, StringComparison.Ordinal);
            Assert.Contains("raise tenants[everyone].limits.requests_per_minute in", message, StringComparison.Ordinal);
            return;
        }
    }

    [Fact]
    public async Task Request_OverTheSizeLimit_413NamingTheSetting()
    {
        await using var node = await Node(server: "max_request_bytes: 2048");
        var big = new string('x', 4096);

        var (status, error) = await PostAsync(node, "/v1/chat/completions", $$"""{"model":"sim-model","messages":[{"role":"user","content":"{{big}}"}]}""");

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, status);
        Assert.Equal("request_too_large", error.GetProperty("error").GetProperty("code").GetString());
        Assert.Contains("over this mesh's limit of 2048 bytes (server.max_request_bytes in the mesh file)", error.GetProperty("error").GetProperty("message").GetString());
    }

    [Fact]
    public async Task Request_BodyStopsShortOfItsContentLength_408NamingTheBodyAndNodeServesOn()
    {
        await using var node = await Node();
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(node.IngressAddress!.Host, node.IngressAddress.Port);
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(
            $"POST /v1/chat/completions HTTP/1.1\r\nHost: {node.IngressAddress.Authority}\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{{\"model\":\"sim"));

        // The rest of the body never comes: Kestrel's minimum data rate ends the read after its 5 s grace period,
        // and the client hears why in OpenAI's error shape, not an internal error.
        var response = await ReadResponseAsync(stream).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.StartsWith("HTTP/1.1 408", response, StringComparison.Ordinal);
        Assert.Contains("\"message\":\"body: Reading the request body timed out", response, StringComparison.Ordinal);
        var (status, _) = await PostAsync(node, "/v1/chat/completions", """{"model":"sim-model","messages":[{"role":"user","content":"still here?"}]}""");
        Assert.Equal(HttpStatusCode.OK, status);
    }

    /// <summary>One HTTP/1.1 response with a Content-Length, read from a raw connection.</summary>
    private static async Task<string> ReadResponseAsync(Stream stream)
    {
        var received = new List<byte>();
        var buffer = new byte[4096];
        while (true)
        {
            var read = await stream.ReadAsync(buffer);
            if (read == 0)
            {
                return Encoding.UTF8.GetString([.. received]);
            }

            received.AddRange(buffer.AsSpan(0, read));
            var text = Encoding.UTF8.GetString([.. received]);
            var headersEnd = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            var length = System.Text.RegularExpressions.Regex.Match(text, "Content-Length: (\\d+)", System.Text.RegularExpressions.RegexOptions.IgnoreCase);
            if (headersEnd >= 0 && length.Success && Encoding.UTF8.GetByteCount(text[(headersEnd + 4)..]) >= int.Parse(length.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture))
            {
                return text;
            }
        }
    }

    [Fact]
    public async Task Https_NodeCertificateFromTheMeshCa_AnswersWithAndWithoutAClientCertificate()
    {
        await using var node = await TestNode.StartAsync(MeshYaml.SingleNode(MeshYaml.Simulated()), httpIngress: true, ingressTls: true);
        var store = new LlmRouter.Common.Identity.CertificateStore(node.Mesh.CertificatesDirectory);
        var ca = store.LoadCertificate(LlmRouter.Common.Identity.CertificateStore.CaName);
        HttpClient Client(bool presentCertificate)
        {
            var handler = new HttpClientHandler
            {
                ServerCertificateCustomValidationCallback = (_, certificate, chain, _) =>
                {
                    chain!.ChainPolicy.TrustMode = System.Security.Cryptography.X509Certificates.X509ChainTrustMode.CustomRootTrust;
                    chain.ChainPolicy.CustomTrustStore.Add(ca);
                    chain.ChainPolicy.RevocationMode = System.Security.Cryptography.X509Certificates.X509RevocationMode.NoCheck;
                    return chain.Build(certificate!);
                },
            };
            if (presentCertificate)
            {
                handler.ClientCertificates.Add(store.LoadWithKey(LlmRouter.Common.Identity.CertificateStore.ClientName));
            }

            return new HttpClient(handler);
        }

        foreach (var present in new[] { false, true })
        {
            using var client = Client(present);
            using var response = await client.PostAsync(new Uri(node.IngressAddress!, "/v1/chat/completions"),
                Json("""{"model":"sim-model","max_tokens":2,"messages":[{"role":"user","content":"hi"}]}"""));

            Assert.Equal("https", node.IngressAddress!.Scheme);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("sim-model", JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("model").GetString());
        }
    }

    [Fact]
    public async Task UnknownPathAndMethod_404And405InOpenAIsShape()
    {
        await using var node = await Node();

        using var missing = await Http.GetAsync(new Uri(node.IngressAddress!, "/v1/completions"));
        using var wrongMethod = await Http.GetAsync(new Uri(node.IngressAddress!, "/v1/chat/completions"));

        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Contains("no such endpoint", await missing.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.MethodNotAllowed, wrongMethod.StatusCode);
        Assert.Equal("POST", wrongMethod.Content.Headers.Allow.Single());
    }
}
