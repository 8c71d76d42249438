using System.Security.Cryptography;
using Grpc.Core;
using Grpc.Net.Client;
using LlmRouter.Common.Access;
using LlmRouter.Common.Configuration;
using LlmRouter.Common.Identity;
using LlmRouter.Tests.Infrastructure;
using LlmRouter.V1;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using static LlmRouter.Tests.Node.ChatRequests;

namespace LlmRouter.Tests.Access;

/// <summary>
/// Callers and tenants at a node's Router API, as a user meets them (issue 13): no credential, an API key
/// (created, revoked, rotated while the node runs), a client certificate of one tenant or another, a JWT signed by
/// the configured issuer or forged; a tenant restricted to some models, to on-prem backends or to some profiles;
/// the Admin API for operators only; the tenant a member asserts when it forwards.
/// </summary>
public sealed class AccessTests : IAsyncLifetime
{
    private const string Issuer = "https://issuer.test/";
    private const string Audience = "llm-router";
    private readonly RSA _issuerKey = RSA.Create(2048);
    private DirectoryInfo _directory = null!;
    private MeshConfig _mesh = null!;
    private TestNode _node = null!;

    // Tenant "team-a" may use sim-model (by its alias) only; "on-prem" may not reach cloud backends; "ops" runs the
    // Admin API. Calls without a credential act as "free", which may use no model here: a credential of this mesh
    // that fails is told apart from one served as anonymous (UNAUTHENTICATED, not PERMISSION_DENIED for "free").
    private static string Yaml(string keysFile, int httpPort) => $$"""
        mesh:
          name: test
          certificates: certs
        access:
          anonymous: free
          operators: [ops]
          keys_file: {{keysFile}}
          jwt:
            issuer: {{Issuer}}
            audience: {{Audience}}
            keys_file: jwks.json
        tenants:
          - name: ops
            clients: [ops]
          - name: team-a
            clients: [svc-a]
            models: [sim-model-alias]
            profiles: [balanced, cost]
          - name: on-prem
            clients: [svc-onprem]
            cloud: false
          - name: free
            models: [no-such-model]
        server:
          drain_timeout: 5s
          drain_notice: 0ms
        pools:
          - name: pool-a
            nodes:
              - id: n1
                listen: https://127.0.0.1:7999
                http_listen: http://127.0.0.1:{{httpPort}}
                backends:
                  - id: sim
                    kind: simulated
                    simulated: { time_to_first_token: 0ms, tokens_per_second: 0 }
                    models:
                      - { id: sim-model, aliases: [sim-model-alias], quality: 0.6 }
                  - id: cloud
                    kind: openai
                    base_url: http://127.0.0.1:9/v1/
                    api_key_env: TEST_CLOUD_KEY
                    models:
                      - { id: cloud-model, quality: 0.9 }
        """;

    public async Task InitializeAsync()
    {
        _directory = Directory.CreateTempSubdirectory("llmrouter-access-");
        var path = Path.Combine(_directory.FullName, "mesh.yaml");
        await File.WriteAllTextAsync(path, Yaml("keys.yaml", TestMesh.FreePort()));
        _mesh = MeshConfigLoader.Load(path);
        var store = new CertificateStore(_mesh.CertificatesDirectory);
        store.EnsureForMesh(_mesh, TimeProvider.System.GetUtcNow());
        foreach (var client in new[] { "ops", "svc-a", "svc-onprem", "stranger" })
        {
            store.IssueClient(_mesh, client, TimeProvider.System.GetUtcNow());
        }

        await File.WriteAllTextAsync(Path.Combine(_directory.FullName, "jwks.json"), KeySet(_issuerKey, "k1"));
        _node = await TestNode.StartAsync(_mesh, "n1", _directory, new Uri("https://127.0.0.1:0"), name => name == "TEST_CLOUD_KEY" ? "unused" : null);
    }

    public async Task DisposeAsync()
    {
        await _node.DisposeAsync();
        _issuerKey.Dispose();
    }

    [Fact]
    public async Task NoCredential_ActsAsTheAnonymousTenant_AndAForeignTokenIsNoCredential()
    {
        var error = await RefusedAsync(Anonymous(), Ask("sim-model", "hi"));
        Assert.Equal(StatusCode.PermissionDenied, error.StatusCode);
        Assert.Contains("tenant 'free' may not use 'sim-model'", error.Status.Detail, StringComparison.Ordinal);

        // A bearer token that is neither a key of this mesh nor a JWT (OpenAI's SDKs always send one) is no credential.
        error = await RefusedAsync(Anonymous(), Ask("sim-model", "hi"), Bearer("sk-not-ours"));
        Assert.Contains("tenant 'free'", error.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ClosedMesh_NoCredential_Unauthenticated_NamingWhatToSend()
    {
        await using var closed = await TestNode.StartAsync(MeshYaml.SingleNode(MeshYaml.Simulated()).Replace("  anonymous: everyone\n", "", StringComparison.Ordinal));
        var store = new CertificateStore(closed.Mesh.CertificatesDirectory);
        using var channel = MeshChannels.Create(closed.Address, store.LoadCertificate(CertificateStore.CaName), null);

        var error = await RefusedAsync(channel, Ask("sim-model", "hi"));

        Assert.Equal(StatusCode.Unauthenticated, error.StatusCode);
        Assert.Contains("calls without one are off (access.anonymous)", error.Status.Detail, StringComparison.Ordinal);
        Assert.True(await AnsweredAsync(closed.OpenChannel(), Ask("sim-model", "hi")));
    }

    [Fact]
    public async Task ApiKey_ServesItsTenant_AndARevokedOrRotatedOneIsRefused()
    {
        var keysFile = _mesh.Access.KeysFile!;
        var (key, entry) = ApiKeys.Create("team-a", "test", TimeProvider.System.GetUtcNow());
        ApiKeyFile.Write(keysFile, [entry]);
        await Eventually.WaitUntil(() => AnsweredAsync(Anonymous(), Ask("sim-model", "hi"), Bearer(key)), "the new key accepted once the node read the file", () => Task.FromResult(File.ReadAllText(keysFile)));

        // The key's tenant (team-a) may use sim-model only.
        var denied = await RefusedAsync(Anonymous(), Ask("cloud-model", "hi"), Bearer(key));
        Assert.Equal(StatusCode.PermissionDenied, denied.StatusCode);
        Assert.Contains("tenant 'team-a' may not use 'cloud-model'", denied.Status.Detail, StringComparison.Ordinal);

        // A wrong secret for a known id, and a key never issued.
        var wrong = key[..^4] + (key[^4..] == "AAAA" ? "BBBB" : "AAAA");
        Assert.Equal(StatusCode.Unauthenticated, (await RefusedAsync(Anonymous(), Ask("sim-model", "hi"), Bearer(wrong))).StatusCode);
        // A key of this mesh is checked wherever it is sent: without "Bearer", and in x-api-key beside a foreign token.
        Assert.Equal(StatusCode.Unauthenticated, (await RefusedAsync(Anonymous(), Ask("sim-model", "hi"), new Metadata { { "authorization", wrong } })).StatusCode);
        Assert.Equal(StatusCode.Unauthenticated, (await RefusedAsync(Anonymous(), Ask("sim-model", "hi"), new Metadata { { "authorization", "Bearer sk-x" }, { "x-api-key", wrong } })).StatusCode);
        var (never, _) = ApiKeys.Create("team-a", null, TimeProvider.System.GetUtcNow());
        Assert.Contains("not a key of this mesh", (await RefusedAsync(Anonymous(), Ask("sim-model", "hi"), Bearer(never))).Status.Detail, StringComparison.Ordinal);

        // Rotated with no grace, then the successor revoked: both stop working without a restart.
        var (successor, next) = ApiKeys.Create("team-a", "test", TimeProvider.System.GetUtcNow());
        ApiKeyFile.Write(keysFile, [entry with { Expires = TimeProvider.System.GetUtcNow() }, next]);
        await Eventually.WaitUntil(async () => await StatusAsync(Anonymous(), Ask("sim-model", "hi"), Bearer(key)) == StatusCode.Unauthenticated,
            "the rotated key refused", () => Task.FromResult(File.ReadAllText(keysFile)));
        Assert.True(await AnsweredAsync(Anonymous(), Ask("sim-model", "hi"), Bearer(successor)));
        ApiKeyFile.Write(keysFile, []);
        await Eventually.WaitUntil(async () => await StatusAsync(Anonymous(), Ask("sim-model", "hi"), Bearer(successor)) == StatusCode.Unauthenticated,
            "the revoked key refused", () => Task.FromResult(File.ReadAllText(keysFile)));
        var revoked = await RefusedAsync(Anonymous(), Ask("sim-model", "hi"), Bearer(successor));
        Assert.Equal(StatusCode.Unauthenticated, revoked.StatusCode);
        Assert.DoesNotContain(successor, revoked.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ClientCertificates_ActAsTheirTenant_AndOneOfNoTenantIsRefused()
    {
        Assert.True(await AnsweredAsync(_node.OpenChannel("svc-a"), Ask("sim-model", "hi")));
        var denied = await RefusedAsync(_node.OpenChannel("svc-a"), Ask("sim-model-embed-not-here", "hi"));
        Assert.Equal(StatusCode.NotFound, denied.StatusCode);

        // Another tenant's certificate is that tenant: on-prem may use any model, but no cloud backend.
        Assert.True(await AnsweredAsync(_node.OpenChannel("svc-onprem"), Ask("sim-model", "hi")));
        var cloud = await RefusedAsync(_node.OpenChannel("svc-onprem"), Ask("cloud-model", "hi"));
        Assert.Equal(StatusCode.PermissionDenied, cloud.StatusCode);
        Assert.Contains("tenant 'on-prem' may not use cloud backends", cloud.Status.Detail, StringComparison.Ordinal);

        var stranger = await RefusedAsync(_node.OpenChannel("stranger"), Ask("sim-model", "hi"));
        Assert.Equal(StatusCode.PermissionDenied, stranger.StatusCode);
        Assert.Contains("client certificate 'stranger' belongs to no tenant", stranger.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Profiles_AndModelLists_AreTheTenantsOnly()
    {
        var request = Ask("sim-model", "hi");
        request.RoutingProfile = "quality";
        var denied = await RefusedAsync(_node.OpenChannel("svc-a"), request);
        Assert.Equal(StatusCode.PermissionDenied, denied.StatusCode);
        Assert.Contains("profile 'quality'", denied.Status.Detail, StringComparison.Ordinal);

        var listed = await new Router.RouterClient(_node.OpenChannel("svc-a")).ListModelsAsync(new ListModelsRequest());
        Assert.Equal(["sim-model"], listed.Models.Select(m => m.Id).Distinct());
        var all = await new Router.RouterClient(_node.OpenChannel("ops")).ListModelsAsync(new ListModelsRequest());
        Assert.Contains(all.Models, m => m.Id == "cloud-model");
    }

    [Fact]
    public async Task Jwt_SignedByTheIssuer_ServesItsTenant_AndForgedExpiredOrForeignAreRefused()
    {
        Assert.True(await AnsweredAsync(Anonymous(), Ask("sim-model", "hi"), Bearer(Token(_issuerKey, "team-a"))));

        using var forger = RSA.Create(2048);
        var forged = await RefusedAsync(Anonymous(), Ask("sim-model", "hi"), Bearer(Token(forger, "ops")));
        Assert.Equal(StatusCode.Unauthenticated, forged.StatusCode);
        Assert.Contains("signature does not verify", forged.Status.Detail, StringComparison.Ordinal);

        var expired = await RefusedAsync(Anonymous(), Ask("sim-model", "hi"), Bearer(Token(_issuerKey, "team-a", expires: TimeSpan.FromMinutes(-10))));
        Assert.Contains("expired", expired.Status.Detail, StringComparison.Ordinal);
        var audience = await RefusedAsync(Anonymous(), Ask("sim-model", "hi"), Bearer(Token(_issuerKey, "team-a", audience: "someone-else")));
        Assert.Contains("audience", audience.Status.Detail, StringComparison.Ordinal);
        var unknown = await RefusedAsync(Anonymous(), Ask("sim-model", "hi"), Bearer(Token(_issuerKey, "nobody")));
        Assert.Equal(StatusCode.PermissionDenied, unknown.StatusCode);

        // "none" is no signature.
        var header = Base64Url("{\"alg\":\"none\",\"typ\":\"JWT\"}"u8.ToArray());
        var body = Base64Url(System.Text.Encoding.UTF8.GetBytes($"{{\"iss\":\"{Issuer}\",\"aud\":\"{Audience}\",\"tenant\":\"ops\",\"exp\":{TimeProvider.System.GetUtcNow().AddHours(1).ToUnixTimeSeconds()}}}"));
        Assert.Equal(StatusCode.Unauthenticated, (await RefusedAsync(Anonymous(), Ask("sim-model", "hi"), Bearer($"{header}.{body}."))).StatusCode);

        // An HMAC keyed with the issuer's public key (the algorithm confusion attack) is no signature either.
        var publicKey = _issuerKey.ExportSubjectPublicKeyInfo();
        var hmac = new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = Issuer,
            Audience = Audience,
            Claims = new Dictionary<string, object> { ["tenant"] = "ops" },
            Expires = TimeProvider.System.GetUtcNow().UtcDateTime.AddHours(1),
            SigningCredentials = new SigningCredentials(new SymmetricSecurityKey(publicKey) { KeyId = "k1" }, SecurityAlgorithms.HmacSha256),
        });
        var confused = await RefusedAsync(Anonymous(), Ask("sim-model", "hi"), Bearer(hmac));
        Assert.Equal(StatusCode.Unauthenticated, confused.StatusCode);
    }

    [Fact]
    public async Task HttpIngress_TheSameCallers_401WithoutACredential_ModelsListedForTheTenant()
    {
        using var http = new HttpClient { BaseAddress = _node.IngressAddress };
        var (key, entry) = ApiKeys.Create("team-a", null, TimeProvider.System.GetUtcNow());
        ApiKeyFile.Write(_mesh.Access.KeysFile!, [entry]);
        const string Body = """{"model":"sim-model","messages":[{"role":"user","content":"hi"}]}""";

        using var anonymous = await http.PostAsync("/v1/chat/completions", new StringContent(Body, System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(System.Net.HttpStatusCode.Forbidden, anonymous.StatusCode);
        Assert.Contains("tenant 'free'", await anonymous.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        using var revoked = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new StringContent(Body, System.Text.Encoding.UTF8, "application/json") };
        revoked.Headers.Add("x-api-key", ApiKeys.Create("team-a", null, TimeProvider.System.GetUtcNow()).Key);
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, (await http.SendAsync(revoked)).StatusCode);

        await Eventually.WaitUntil(async () =>
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new StringContent(Body, System.Text.Encoding.UTF8, "application/json") };
                request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
                using var answered = await http.SendAsync(request);
                return answered.IsSuccessStatusCode;
            }, "the key accepted over HTTP", () => Task.FromResult(File.ReadAllText(_mesh.Access.KeysFile!)));

        // Anthropic's SDK sends x-api-key; the tenant's model list is what GET /v1/models shows.
        using var models = new HttpRequestMessage(HttpMethod.Get, "/v1/models");
        models.Headers.Add("x-api-key", key);
        using var listed = await http.SendAsync(models);
        var text = await listed.Content.ReadAsStringAsync();
        Assert.True(listed.IsSuccessStatusCode, text);
        Assert.Contains("\"sim-model\"", text, StringComparison.Ordinal);
        Assert.DoesNotContain("cloud-model", text, StringComparison.Ordinal);

        using var cloud = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = new StringContent(Body.Replace("sim-model", "cloud-model", StringComparison.Ordinal), System.Text.Encoding.UTF8, "application/json"),
        };
        cloud.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
        using var denied = await http.SendAsync(cloud);
        Assert.Equal(System.Net.HttpStatusCode.Forbidden, denied.StatusCode);
    }

    [Fact]
    public async Task IdempotencyKeys_AreEachTenantsOwn()
    {
        var request = Ask("sim-model", "same question");
        request.IdempotencyKey = "shared-key-1";

        var first = await ReadAll(new Router.RouterClient(_node.OpenChannel("svc-onprem")).Chat(request));
        var again = await ReadAll(new Router.RouterClient(_node.OpenChannel("svc-onprem")).Chat(request));
        var other = await ReadAll(new Router.RouterClient(_node.OpenChannel("svc-a")).Chat(request));

        Assert.Equal(first[0].Route.RequestId, again[0].Route.RequestId);
        Assert.NotEqual(first[0].Route.RequestId, other[0].Route.RequestId);
    }

    [Fact]
    public async Task AdminApi_OperatorsOnly()
    {
        Assert.NotNull(await new Admin.AdminClient(_node.OpenChannel("ops")).ListMembersAsync(new ListMembersRequest()));
        var error = await Assert.ThrowsAsync<RpcException>(async () => await new Admin.AdminClient(_node.OpenChannel("svc-a")).ListMembersAsync(new ListMembersRequest()));
        Assert.Equal(StatusCode.PermissionDenied, error.StatusCode);
        Assert.Contains("access.operators", error.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Forwarded_TheMemberAssertsTheTenant_AndTheSamePermissionsApply()
    {
        // n1's own certificate stands in for a member of its pool forwarding a request.
        var member = _node.OpenChannel("n1");
        var forwarded = new Metadata { { "llmrouter-path", "n0" }, { "llmrouter-attempts", "2" }, { "llmrouter-tenant", "team-a" } };
        Assert.True(await AnsweredAsync(member, Ask("sim-model", "hi"), forwarded));
        var denied = await RefusedAsync(member, Ask("cloud-model", "hi"), forwarded);
        Assert.Equal(StatusCode.PermissionDenied, denied.StatusCode);

        var unnamed = await RefusedAsync(member, Ask("sim-model", "hi"), new Metadata { { "llmrouter-path", "n0" }, { "llmrouter-attempts", "2" } });
        Assert.Contains("without naming its tenant", unnamed.Status.Detail, StringComparison.Ordinal);
        var unknown = await RefusedAsync(member, Ask("sim-model", "hi"), new Metadata { { "llmrouter-path", "n0" }, { "llmrouter-tenant", "nobody" } });
        Assert.Contains("does not list", unknown.Status.Detail, StringComparison.Ordinal);

        // A client cannot assert a tenant.
        var client = await RefusedAsync(_node.OpenChannel("svc-a"), Ask("sim-model", "hi"), new Metadata { { "llmrouter-tenant", "ops" } });
        Assert.Equal(StatusCode.PermissionDenied, client.StatusCode);
    }

    private GrpcChannel Anonymous()
    {
        var store = new CertificateStore(_mesh.CertificatesDirectory);
        return MeshChannels.Create(_node.Address, store.LoadCertificate(CertificateStore.CaName), null);
    }

    private static Metadata Bearer(string token) => new() { { "authorization", "Bearer " + token } };

    private static async Task<StatusCode> StatusAsync(GrpcChannel channel, ChatRequest request, Metadata headers)
    {
        try
        {
            await ReadAll(new Router.RouterClient(channel).Chat(request, headers));
            return StatusCode.OK;
        }
        catch (RpcException ex)
        {
            return ex.StatusCode;
        }
    }

    private static async Task<bool> AnsweredAsync(GrpcChannel channel, ChatRequest request, Metadata? headers = null)
    {
        try
        {
            var frames = await ReadAll(new Router.RouterClient(channel).Chat(request, headers));
            return frames[^1].Completed is not null;
        }
        catch (RpcException)
        {
            return false;
        }
    }

    private static async Task<RpcException> RefusedAsync(GrpcChannel channel, ChatRequest request, Metadata? headers = null) =>
        await Assert.ThrowsAsync<RpcException>(() => ReadAll(new Router.RouterClient(channel).Chat(request, headers)));

    private static string Token(RSA key, string tenant, TimeSpan? expires = null, string audience = Audience)
    {
        var now = TimeProvider.System.GetUtcNow().UtcDateTime;
        var until = now + (expires ?? TimeSpan.FromHours(1));
        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = Issuer,
            Audience = audience,
            Claims = new Dictionary<string, object> { ["tenant"] = tenant, ["sub"] = "someone" },
            NotBefore = until < now ? until.AddMinutes(-5) : now,
            IssuedAt = until < now ? until.AddMinutes(-5) : now,
            Expires = until,
            SigningCredentials = new SigningCredentials(new RsaSecurityKey(key) { KeyId = "k1" }, SecurityAlgorithms.RsaSha256),
        });
    }

    private static string KeySet(RSA key, string id)
    {
        var parameters = key.ExportParameters(includePrivateParameters: false);
        return $$"""{"keys":[{"kty":"RSA","use":"sig","alg":"RS256","kid":"{{id}}","n":"{{Base64Url(parameters.Modulus!)}}","e":"{{Base64Url(parameters.Exponent!)}}"}]}""";
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
