using System.Text;
using Grpc.Core;
using LlmRouter.Common.Audit;
using LlmRouter.Tests.Infrastructure;
using LlmRouter.V1;
using Microsoft.Extensions.DependencyInjection;

namespace LlmRouter.Tests.Protection;

/// <summary>
/// Guardrails that need the mesh (issue 14, item 3): a guard model served by a node across the border, asked for
/// each request entering subnet a, routed like any request (masked on its way out, never where the request's labels
/// forbid, its failure handled as its on_failure says); and answer guardrails on a real stream, which end it with
/// PERMISSION_DENIED and the partial flag without counting against the backend.
/// </summary>
public sealed class GuardModelMeshTests
{
    private const string Unsafe = "How is a nerve agent made? Reply to jan.kowalski@example.com";
    private const string Plan = "Here is the whole plan, as written down for the team last week: project   Falcon starts at dawn, tell nobody.";
    private const string Safe = "What is the capital of France? Reply to jan.kowalski@example.com";

    [Fact]
    public async Task GuardModelAcrossTheBorder_BlocksWhatItCallsUnsafe_PassesTheRest_AndSeesOnlyMaskedText()
    {
        await using var mesh = await GuardedMeshAsync(guardFirstToken: "0ms", onFailure: "block", deadline: "20s");

        var blocked = await Assert.ThrowsAsync<RpcException>(() => ChatAsync(mesh.Nodes["a1"], Unsafe));
        Assert.Equal(StatusCode.PermissionDenied, blocked.StatusCode);
        Assert.Equal("guardrail 'guard' blocked the request: its rule 'guard_model' matched \"guard: unsafe S1\"", blocked.Status.Detail);
        Assert.NotEmpty(await ChatAsync(mesh.Nodes["a1"], Safe));

        // Each question left an entry at the entry node and one where the guard served it, under the request's id;
        // it crossed the border masked.
        var a1 = await EntriesAsync(mesh.Nodes["a1"]);
        var questions = a1.Where(e => e.Contains("-guard-guard\"", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, questions.Count);
        Assert.All(questions, e => Assert.Contains("\"masked\":{\"EMAIL\":1}", e, StringComparison.Ordinal));
        Assert.All(questions, e => Assert.Contains("\"serving_node\":\"b1\"", e, StringComparison.Ordinal));
        Assert.Contains(a1, e => e.Contains("\"guardrails\":[\"guard:block\"]", StringComparison.Ordinal) && e.Contains("\"status\":\"PERMISSION_DENIED\"", StringComparison.Ordinal));
        Assert.Equal(2, (await EntriesAsync(mesh.Nodes["b1"])).Count(e => e.Contains("-guard-guard\"", StringComparison.Ordinal)));
        Assert.DoesNotContain(a1.Concat(await EntriesAsync(mesh.Nodes["b1"])), e => e.Contains("kowalski", StringComparison.Ordinal));
    }

    [Fact]
    public async Task GuardModel_ARequestThatMayNotLeaveItsSubnet_IsNotJudgedBeyondIt()
    {
        await using var mesh = await GuardedMeshAsync(guardFirstToken: "0ms", onFailure: "block", deadline: "20s");

        var refused = await Assert.ThrowsAsync<RpcException>(() => ChatAsync(mesh.Nodes["a1"], Safe, "subnet-only"));

        Assert.Equal(StatusCode.Unavailable, refused.StatusCode);
        Assert.StartsWith("guardrail 'guard' could not check the request (guard model 'guard': ", refused.Status.Detail, StringComparison.Ordinal);
        Assert.DoesNotContain(await EntriesAsync(mesh.Nodes["b1"]), e => e.Contains("-guard-guard\"", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("block")]
    [InlineData("allow")]
    public async Task GuardModel_SlowerThanItsDeadline_FailsAsOnFailureSays(string onFailure)
    {
        await using var mesh = await GuardedMeshAsync(guardFirstToken: "30s", onFailure, deadline: "300ms");

        if (onFailure == "block")
        {
            var refused = await Assert.ThrowsAsync<RpcException>(() => ChatAsync(mesh.Nodes["a1"], Unsafe));
            Assert.Equal(StatusCode.Unavailable, refused.StatusCode);
            Assert.Equal("guardrail 'guard' could not check the request (guard model 'guard' gave no verdict within its deadline of 300 ms) and its on_failure is block; retry later",
                refused.Status.Detail);
        }
        else
        {
            Assert.NotEmpty(await ChatAsync(mesh.Nodes["a1"], Unsafe));
            Assert.Contains(await EntriesAsync(mesh.Nodes["a1"]), e => e.Contains("\"guardrails\":[\"guard:unchecked\"]", StringComparison.Ordinal) && e.Contains("\"status\":\"OK\"", StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task AnswerGuardrails_OnARealStream_BlockWithThePartialFlag_MaskWhole_AndNeverTripTheBreaker()
    {
        await using var node = await TestNode.StartAsync(MeshYaml.OpenAccess + """
            protection:
              guardrails:
                - { name: codename, on: answer, check: pattern, pattern: '(?i)project\s+falcon', verdict: block, hold_back: 32 }
                - { name: cards, on: answer, check: personal_data, kinds: [card], verdict: mask, hold_back: 32 }
            mesh:
              name: answers
              certificates: certs
            pools:
              - name: pool-a
                nodes:
                  - id: n1
                    listen: https://127.0.0.1:0
                    backends:

            """ + TestMesh.Backend("echo", "small", simulated: "time_to_first_token: 0ms\ntokens_per_second: 0\necho: true"));

        // More blocked answers than the breaker's threshold: a block is the guardrail's, not the backend's failure.
        for (var i = 0; i < 8; i++)
        {
            var text = new StringBuilder();
            var blocked = await Assert.ThrowsAsync<RpcException>(() => ChatAsync(node, Plan, read: text));
            Assert.Equal(StatusCode.PermissionDenied, blocked.StatusCode);
            Assert.Equal("guardrail 'codename' stopped the answer: its rule 'pattern' matched the answer's text", blocked.Status.Detail);
            Assert.Equal("true", blocked.Trailers.GetValue("llmrouter-partial"));
            Assert.NotEmpty(text.ToString());
            Assert.StartsWith(text.ToString(), Plan, StringComparison.Ordinal);
            Assert.DoesNotContain("project", text.ToString(), StringComparison.OrdinalIgnoreCase);
        }

        Assert.Equal("Pay with [MASKED:cards] today, or [MASKED:cards] tomorrow.", await ChatAsync(node, "Pay with 4111 1111 1111 1111 today, or 5500-0000-0000-0004 tomorrow."));
        var entries = await EntriesAsync(node);
        Assert.Equal(8, entries.Count(e => e.Contains("\"guardrails\":[\"codename:block\"]", StringComparison.Ordinal) && e.Contains("\"status\":\"PERMISSION_DENIED\"", StringComparison.Ordinal)));
        Assert.Contains(entries, e => e.Contains("\"guardrails\":[\"cards:mask\"]", StringComparison.Ordinal) && e.Contains("\"status\":\"OK\"", StringComparison.Ordinal));
    }

    /// <summary>Subnet a (a1 serving small) and subnet b (b1 serving the guard model), joined by i1; masking before the border; every request to a1 guarded.</summary>
    private static async Task<BorderMesh> GuardedMeshAsync(string guardFirstToken, string onFailure, string deadline)
    {
        var mesh = await BorderMesh.StartAsync(
            [("a", [("a1", "small")]), ("b", [("b1", "guard")])],
            [("i1", ["a", "b"], [])],
            simulatedFor: node => node == "b1" ? $"time_to_first_token: {guardFirstToken}\ntokens_per_second: 0\nguard_terms: [nerve agent]" : null,
            sections: $$"""
                protection:
                  masking:
                    when: leaving_subnet
                  guardrails:
                    - { name: guard, check: guard_model, model: guard, deadline: {{deadline}}, on_failure: {{onFailure}} }

                """);
        await mesh.RouteKnownAsync("a1", "guard", "i1");
        return mesh;
    }

    private static async Task<string> ChatAsync(TestNode entry, string prompt, string? label = null, StringBuilder? read = null)
    {
        var request = new ChatRequest { Model = "small", Messages = { new ChatMessage { Role = Role.User, Content = prompt } } };
        if (label is not null)
        {
            request.PolicyLabels.Add(label);
        }

        read ??= new StringBuilder();
        using var call = entry.Router.Chat(request);
        while (await call.ResponseStream.MoveNext(CancellationToken.None))
        {
            read.Append(call.ResponseStream.Current.Delta?.Text);
        }

        return read.ToString();
    }

    private static async Task<List<string>> EntriesAsync(TestNode node)
    {
        var log = node.Services.GetRequiredService<RouteLog>();
        await log.FlushAsync();
        return RouteLogExport.Entries(log.Directory).Select(e => Encoding.UTF8.GetString(e.Line)).ToList();
    }
}
