namespace LlmRouter.Tests.Infrastructure;

/// <summary>Small mesh files for tests: one node "n1" with the backends given.</summary>
internal static class MeshYaml
{
    /// <summary>
    /// Access for tests that are not about it: calls without a credential act as tenant "everyone", which may use
    /// everything without limits, as does the client certificate ("client"), which is also an operator.
    /// </summary>
    public const string OpenAccess = """
        access:
          anonymous: everyone
          operators: [client]
        tenants:
          - name: everyone
            clients: [client]

        """;

    /// <param name="backends">The node's backends: list entries as <see cref="Simulated"/> writes them.</param>
    /// <param name="server">server: settings, one per line; they replace the test defaults of the same key.</param>
    public static string SingleNode(string backends, string server = "") => $"""
        mesh:
          name: test
          certificates: certs
        {OpenAccess}
        server:
        {Indent(Server(server), 2)}
        pools:
          - name: pool-a
            nodes:
              - id: n1
                listen: https://127.0.0.1:7999
                backends:
        {Indent(backends, 10)}
        """;

    /// <summary>One simulated backend serving one chat model.</summary>
    public static string Simulated(
        string id = "sim",
        string model = "sim-model",
        string settings = "time_to_first_token: 0ms\ntokens_per_second: 0",
        string limits = "") => $"""
        - id: {id}
          kind: simulated
        {Indent(limits, 2)}
          simulated:
        {Indent(settings, 4)}
          models:
            - id: {model}
              aliases: [{model}-alias]
              quality: 0.6
              context_tokens: 8192
            - id: {model}-embed
              kind: embedding
              dimensions: 16
        """;

    private static string Server(string overrides)
    {
        var lines = overrides.Split('\n', StringSplitOptions.RemoveEmptyEntries).ToList();
        foreach (var fallback in new[] { "drain_timeout: 5s", "drain_notice: 0ms" })
        {
            if (!lines.Any(line => line.StartsWith(fallback.Split(':')[0] + ":", StringComparison.Ordinal)))
            {
                lines.Add(fallback);
            }
        }

        return string.Join("\n", lines);
    }

    private static string Indent(string text, int spaces)
    {
        var pad = new string(' ', spaces);
        return string.Join("\n", text.Split('\n').Select(line => line.Length == 0 ? line : pad + line));
    }
}
