using System.Text;
using LlmRouter.Tests.Fakes;
using LlmRouter.Tests.Infrastructure;
using LlmRouter.V1;

namespace LlmRouter.Tests.Protection;

/// <summary>
/// Masking before a border, end to end (issue 14): a request entering subnet a for a model only subnet b serves
/// crosses through an integrator to an OpenAI-compatible backend that records what it receives and answers with it
/// (an echo). Nothing the recognizers find reaches that backend, and the client reads every value back; a request
/// served inside its own subnet goes out as it was sent (the policy masks only what leaves).
/// </summary>
public sealed class MaskingMeshTests
{
    // One of each kind, some twice, in prose.
    private const string Prompt =
        "Customer jan.kowalski@example.com (PESEL 44051401359, NIP 123-456-32-18) paid with 4111 1111 1111 1111 " +
        "from IBAN DE89 3704 0044 0532 0130 00; call him at +48 600 123 456 or write to jan.kowalski@example.com. " +
        "Server 10.20.30.40 and 2001:db8::1 use key sk-proj-abcdefghijklmnopqrstuvwxyz012345; US contact 123-45-6789.";

    private static readonly string[] Values =
    [
        "jan.kowalski@example.com", "44051401359", "123-456-32-18", "4111 1111 1111 1111", "DE89 3704 0044 0532 0130 00",
        "+48 600 123 456", "10.20.30.40", "2001:db8::1", "sk-proj-abcdefghijklmnopqrstuvwxyz012345", "123-45-6789",
    ];

    private const string Protection = """
        protection:
          masking:
            when: leaving_subnet

        """;

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(7)]
    public async Task Chat_AcrossTheBorder_NoValueReachesTheBackendAndTheClientReadsThemAll(int pieces)
    {
        await using var echo = await FakeOpenAIServer.StartAsync();
        echo.Reply = new FakeReply { EchoPieces = pieces };
        await using var mesh = await EchoMeshAsync(echo);

        var (text, frames) = await ChatAsync(mesh.Nodes["a1"], "far");

        Assert.Equal(["a1", "i1", "b1"], frames[0].Route.Path.Select(h => h.Node));
        var received = LastUserContent(echo);
        foreach (var value in Values)
        {
            Assert.DoesNotContain(value, received, StringComparison.Ordinal);
        }

        // The same address twice, the same placeholder twice.
        Assert.Equal(2, CountOf(received, "[EMAIL_1]"));
        Assert.DoesNotContain("[EMAIL_2]", received, StringComparison.Ordinal);
        Assert.Equal(Prompt, text);
    }

    [Fact]
    public async Task Chat_InsideTheEntrySubnet_GoesOutAsSent()
    {
        await using var echo = await FakeOpenAIServer.StartAsync();
        echo.Reply = new FakeReply { EchoPieces = 5 };
        await using var mesh = await EchoMeshAsync(echo);

        var (text, _) = await ChatAsync(mesh.Nodes["b1"], "far");

        Assert.Equal(Prompt, LastUserContent(echo));
        Assert.Equal(Prompt, text);
    }

    [Fact]
    public async Task Chat_ContinuedAfterACut_TheNextCopyGetsThePartialAnswerMaskedTheSameWay()
    {
        // Whichever copy the integrator picks first breaks its stream after the whole echo; the other continues.
        var requests = 0;
        FakeReply Next() => Interlocked.Increment(ref requests) == 1 ? new FakeReply { EchoPieces = 4, CutShort = true } : new FakeReply { EchoPieces = 6 };
        await using var b1 = await FakeOpenAIServer.StartAsync();
        await using var b2 = await FakeOpenAIServer.StartAsync();
        b1.NextReply = b2.NextReply = Next;
        await using var mesh = await EchoMeshAsync(b1, b2);

        var (text, frames) = await ChatAsync(mesh.Nodes["a1"], "far", continuation: true);
        var (cut, next) = b1.Requests.Count == 1 && b2.Requests.Count == 1 && b2.Requests[0]["messages"]!.AsArray().Count > 1 ? (b1, b2) : (b2, b1);

        Assert.Single(frames, f => f.Seam is not null);
        Assert.Equal(Prompt + Prompt, text);
        var masked = LastUserContent(cut);
        var continued = next.Requests[^1]["messages"]!.AsArray();
        Assert.Equal(masked, continued[^2]!["content"]!.GetValue<string>());
        Assert.Equal("assistant", continued[^1]!["role"]!.GetValue<string>());
        Assert.Equal(masked, continued[^1]!["content"]!.GetValue<string>());
        foreach (var value in Values)
        {
            Assert.DoesNotContain(value, next.Requests[^1].ToJsonString(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Chat_ToolCallArgumentsNamingAPlaceholder_ReachTheClientWithTheValue()
    {
        await using var echo = await FakeOpenAIServer.StartAsync();
        echo.Reply = new FakeReply { Tokens = [], ToolCall = new FakeToolCall("call_1", "send_mail", ["{\"to\": \"[EM", "AIL_1]\", \"card\": \"[CA", "RD_1]\"}"]) };
        await using var mesh = await EchoMeshAsync(echo);
        var request = new ChatRequest
        {
            Model = "far",
            Messages = { new ChatMessage { Role = Role.User, Content = Prompt } },
            Tools = { new ToolDefinition { Name = "send_mail", ParametersJson = """{"type":"object"}""" } },
        };

        var frames = new List<ChatResponse>();
        using var call = mesh.Nodes["a1"].Router.Chat(request);
        while (await call.ResponseStream.MoveNext(CancellationToken.None))
        {
            frames.Add(call.ResponseStream.Current);
        }

        var arguments = string.Concat(frames.Where(f => f.ToolCall is not null).Select(f => f.ToolCall.Arguments));
        Assert.Equal("""{"to": "jan.kowalski@example.com", "card": "4111 1111 1111 1111"}""", arguments);
        Assert.DoesNotContain("jan.kowalski@example.com", echo.Requests[^1].ToJsonString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("openai_client.mjs")]
    [InlineData("anthropic_client.mjs")]
    public async Task OfficialSdk_OverTheHttpIngress_ReadsEveryValueBack_AndNoneCrossesTheBorder(string script)
    {
        await using var echo = await FakeOpenAIServer.StartAsync();
        echo.Reply = new FakeReply { EchoPieces = 9 };
        await using var mesh = await EchoMeshAsync(echo);

        var seen = await Ingress.SdkClients.RunAsync(script, "echo", mesh.Nodes["a1"].IngressAddress!, "far", prompt: Prompt);

        Assert.Equal(Prompt, seen.GetProperty("text").GetString());
        var received = LastUserContent(echo);
        foreach (var value in Values)
        {
            Assert.DoesNotContain(value, received, StringComparison.Ordinal);
        }
    }

    /// <summary>Subnet a (a1, simulated) and subnet b (b1, and b2 when given, answered by the fakes), joined by i1.</summary>
    private static async Task<BorderMesh> EchoMeshAsync(FakeOpenAIServer b1, FakeOpenAIServer? b2 = null)
    {
        string Backend(FakeOpenAIServer fake, double quality) => $$"""
                          - id: echo
                            kind: openai-compatible
                            base_url: {{fake.BaseUrl}}
                            models:
                              - { id: far, quality: {{quality.ToString(System.Globalization.CultureInfo.InvariantCulture)}}, features: [tools] }
                """;
        var mesh = await BorderMesh.StartAsync(
            [("a", [("a1", "near")]), ("b", b2 is null ? [("b1", "far")] : [("b1", "far"), ("b2", "far")])],
            [("i1", ["a", "b"], [])],
            backendFor: node => node switch
            {
                "b1" => Backend(b1, 0.9),
                "b2" when b2 is not null => Backend(b2, 0.5),
                _ => null,
            },
            sections: Protection);
        await mesh.RouteKnownAsync("a1", "far", "i1");
        return mesh;
    }

    private static async Task<(string Text, List<ChatResponse> Frames)> ChatAsync(TestNode entry, string model, bool continuation = false)
    {
        var request = new ChatRequest { Model = model, AllowContinuation = continuation, Messages = { new ChatMessage { Role = Role.User, Content = Prompt } } };
        using var call = entry.Router.Chat(request);
        var frames = new List<ChatResponse>();
        var text = new StringBuilder();
        while (await call.ResponseStream.MoveNext(CancellationToken.None))
        {
            frames.Add(call.ResponseStream.Current);
            text.Append(call.ResponseStream.Current.Delta?.Text);
        }

        Assert.Equal(ChatResponse.FrameOneofCase.Completed, frames[^1].FrameCase);
        return (text.ToString(), frames);
    }

    private static string LastUserContent(FakeOpenAIServer echo) =>
        echo.Requests[^1]["messages"]!.AsArray().Last(m => m!["role"]!.GetValue<string>() == "user")!["content"]!.GetValue<string>();

    private static int CountOf(string text, string value) => (text.Length - text.Replace(value, "", StringComparison.Ordinal).Length) / value.Length;
}
