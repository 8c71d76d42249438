using System.Diagnostics;
using System.Text.Json;
using LlmRouter.Tests.Common;

namespace LlmRouter.Tests.Ingress;

/// <summary>
/// Runs a scenario of tests/clients/node (the official OpenAI and Anthropic npm SDKs) against a base URL
/// and returns the JSON it printed. test.sh installs the packages (npm ci in tests/clients/node).
/// </summary>
internal static class SdkClients
{
    public static string Directory => Path.Combine(MeshConfigLoaderTests.RepositoryRoot(), "tests", "clients", "node");

    public static async Task<JsonElement> RunAsync(string script, string scenario, Uri baseUrl, string model, string? embedModel = null, string? prompt = null)
    {
        if (!System.IO.Directory.Exists(Path.Combine(Directory, "node_modules")))
        {
            throw new InvalidOperationException($"the SDKs are not installed: run 'npm ci' in {Directory} (test.sh does)");
        }

        var start = new ProcessStartInfo("node", [script, scenario])
        {
            WorkingDirectory = Directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        // OpenAI's SDK takes the base URL with /v1 in it; Anthropic's adds /v1/messages itself.
        start.Environment["BASE_URL"] = baseUrl.ToString().TrimEnd('/') + (script.StartsWith("openai", StringComparison.Ordinal) ? "/v1" : "");
        start.Environment["MODEL"] = model;
        start.Environment["EMBED_MODEL"] = embedModel ?? "";
        start.Environment["PROMPT"] = prompt ?? "";
        using var process = Process.Start(start) ?? throw new InvalidOperationException("cannot start node");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        try
        {
            await process.WaitForExitAsync(bound.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"node {script} {scenario} ran over 90 s: {await stderr}");
        }

        Assert.True(process.ExitCode == 0, $"node {script} {scenario} exited {process.ExitCode}: {await stdout}{await stderr}");
        return JsonDocument.Parse(await stdout).RootElement.Clone();
    }
}
