using System.Globalization;
using System.Text.Json;

namespace LlmRouter.Tests.Infrastructure;

/// <summary>
/// Debian's real Prometheus (installed by test.sh), started by a test to scrape the processes of its mesh
/// every second, and asked through its HTTP query API: the figures a test checks are the ones an operator
/// would read. Its storage lives in the test's directory and goes with it.
/// </summary>
internal sealed class PrometheusServer : IDisposable
{
    public const string Program = "/usr/bin/prometheus";

    private readonly NodeProcessRunner _process;
    private readonly HttpClient _http;

    private PrometheusServer(NodeProcessRunner process, Uri address)
    {
        _process = process;
        _http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(10) };
    }

    public string Output => _process.Output;

    /// <param name="targets">Each scrape target's job name (the process id) and host:port.</param>
    public static async Task<PrometheusServer> StartAsync(DirectoryInfo directory, IEnumerable<(string Job, string Target)> targets)
    {
        Assert.True(File.Exists(Program), $"{Program} is missing: the metrics tests need Debian's prometheus (test.sh installs it as root: apt-get install prometheus)");
        var home = directory.CreateSubdirectory("prometheus");
        var config = Path.Combine(home.FullName, "prometheus.yml");
        var jobs = string.Join("\n", targets.Select(t => $"  - job_name: {t.Job}\n    static_configs:\n      - targets: ['{t.Target}']"));
        await File.WriteAllTextAsync(config, $"global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nscrape_configs:\n{jobs}\n");
        var port = TestMesh.FreePort();
        var process = NodeProcessRunner.StartTool(Program,
            $"--config.file={config}", $"--storage.tsdb.path={home.CreateSubdirectory("data").FullName}",
            $"--web.listen-address=127.0.0.1:{port}", "--log.level=warn");
        var server = new PrometheusServer(process, new Uri($"http://127.0.0.1:{port}/"));
        await Eventually.WaitUntil(server.ReadyAsync, "prometheus ready", () => Task.FromResult(server.Output), TimeSpan.FromSeconds(30));
        return server;
    }

    /// <summary>The samples of an instant query: each series' labels and value.</summary>
    public async Task<IReadOnlyList<(IReadOnlyDictionary<string, string> Labels, double Value)>> QueryAsync(string query)
    {
        using var response = await _http.GetAsync("api/v1/query?query=" + Uri.EscapeDataString(query));
        var body = await response.Content.ReadAsStringAsync();
        using var json = JsonDocument.Parse(body);
        var root = json.RootElement;
        if (root.GetProperty("status").GetString() != "success")
        {
            throw new InvalidOperationException($"query '{query}' failed: {body}");
        }

        return root.GetProperty("data").GetProperty("result").EnumerateArray().Select(series => (
            (IReadOnlyDictionary<string, string>)series.GetProperty("metric").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString() ?? ""),
            double.Parse(series.GetProperty("value")[1].GetString()!, CultureInfo.InvariantCulture))).ToList();
    }

    /// <summary>The value of a query that yields one number (a sum); 0 when it yields nothing.</summary>
    public async Task<double> ValueAsync(string query) => (await QueryAsync(query)).Sum(series => series.Value);

    /// <summary>Waits until the query reads <paramref name="expected"/> (scrapes land every second), failing with the last value read.</summary>
    public async Task ExpectAsync(string query, double expected, string what)
    {
        double last = double.NaN;
        await Eventually.WaitUntil(async () => Math.Abs((last = await ValueAsync(query)) - expected) < 1e-6,
            $"{what}: {query} = {expected}", () => Task.FromResult($"{last} (prometheus: {Output})"), TimeSpan.FromSeconds(30));
    }

    /// <summary>Whether every target has been scraped and is up.</summary>
    public async Task<bool> AllUpAsync(int targets)
    {
        var up = await QueryAsync("up");
        return up.Count == targets && up.All(series => series.Value == 1);
    }

    public void Dispose()
    {
        _http.Dispose();
        _process.Dispose();
    }

    private async Task<bool> ReadyAsync()
    {
        try
        {
            using var response = await _http.GetAsync("-/ready");
            return response.IsSuccessStatusCode;
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }
}
