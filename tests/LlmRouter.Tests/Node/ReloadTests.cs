using LlmRouter.Node.Hosting;
using LlmRouter.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using LlmRouter.V1;
using static LlmRouter.Tests.Node.ChatRequests;

namespace LlmRouter.Tests.Node;

/// <summary>The model list and routing weights reload when the file changes, without dropping open streams.</summary>
public sealed class ReloadTests
{
    private static readonly string Paced = MeshYaml.Simulated(settings: "time_to_first_token: 0ms\ntokens_per_second: 20");

    [Fact]
    public async Task FileChanges_NewModelServedAndOpenStreamFinishes()
    {
        await using var node = await TestNode.StartAsync(MeshYaml.SingleNode(Paced));
        using var open = node.Router.Chat(Ask("sim-model", "keep going", maxTokens: 10));
        Assert.True(await open.ResponseStream.MoveNext(CancellationToken.None));

        var extended = MeshYaml.SingleNode(Paced + "\n" + MeshYaml.Simulated(id: "sim2", model: "new-model"));
        await File.WriteAllTextAsync(node.ConfigPath, extended);
        await Eventually.WaitUntil(() => node.Catalog.Current.Version > 1, "reload after the file changed",
            () => $"configuration version {node.Catalog.Current.Version}");

        var models = await node.Router.ListModelsAsync(new ListModelsRequest());
        Assert.Contains(models.Models, m => m.Id == "new-model" && m.Backend == "sim2");
        var served = await ReadAll(node.Router.Chat(Ask("new-model", "hi")));
        Assert.Equal("sim2", served[0].Route.Backend);

        var rest = await ReadAll(open);
        Assert.NotNull(rest[^1].Completed);
        Assert.Equal(10UL, rest[^1].Completed.Usage.OutputTokens);
    }

    [Theory]
    [InlineData("telemetry:\n  log_level: debug\n", "the telemetry section changed; that needs a restart")]
    [InlineData("", "changed its http_listen or metrics_listen; that needs a restart")]
    public async Task ListenerOrTelemetryChanged_RefusedWithARestartNotice(string top, string expected)
    {
        await using var node = await TestNode.StartAsync(MeshYaml.SingleNode(Paced));
        var reloader = node.Services.GetServices<IHostedService>().OfType<ConfigReloader>().Single();
        var changed = top.Length > 0
            ? top + MeshYaml.SingleNode(Paced)
            : MeshYaml.SingleNode(Paced).Replace("    listen: https://", $"    metrics_listen: http://127.0.0.1:{TestMesh.FreePort()}\n        listen: https://", StringComparison.Ordinal);

        await File.WriteAllTextAsync(node.ConfigPath, changed);
        await Eventually.WaitUntil(() => reloader.Rejected > 0, "the changed file is read and refused", () => $"version {node.Catalog.Current.Version}");

        Assert.Contains(expected, reloader.LastRejection, StringComparison.Ordinal);
        Assert.Equal(1, node.Catalog.Current.Version);
    }

    [Fact]
    public async Task FileBecomesInvalid_RunningConfigurationStays()
    {
        await using var node = await TestNode.StartAsync(MeshYaml.SingleNode(Paced));

        var reloader = node.Services.GetServices<IHostedService>().OfType<ConfigReloader>().Single();

        await File.WriteAllTextAsync(node.ConfigPath, MeshYaml.SingleNode(Paced).Replace("kind: simulated", "kind: quantum", StringComparison.Ordinal));
        await Eventually.WaitUntil(() => reloader.Rejected > 0, "the changed file is read and refused", () => $"version {node.Catalog.Current.Version}");

        Assert.Contains("unknown backend kind 'quantum'", reloader.LastRejection);
        Assert.Equal(1, node.Catalog.Current.Version);
        Assert.NotNull((await ReadAll(node.Router.Chat(Ask("sim-model", "still here", maxTokens: 2))))[^1].Completed);
    }
}
