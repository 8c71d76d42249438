namespace LlmRouter.Benchmarks;

/// <summary>
/// What masking costs a stream (issue 14, item 2), in one run, over one path: client -> a -> i1 -> b, mutual TLS on
/// loopback. Backend b echoes the request as it received it, word by word and paced (50 words a second), so a masked
/// request's answer carries its placeholders and a's restorer puts every value back. A prompt full of personal data
/// is sent masked (it carries the label a masking rule matches) and unmasked (the same prompt without the label),
/// in alternating rounds. Reported: the added time to first token, and the gaps between tokens against the unmasked
/// stream. The restorer holds back only the start of a placeholder, and no more than the longest one.
/// </summary>
internal static class MaskingBenchmark
{
    private const string Label = "on-prem-only";

    // Every built-in kind but secrets, in prose: 10 distinct values of 8 kinds (two of them written twice), 64 words.
    private const string Prompt =
        "Customer jan.kowalski@example.com with PESEL 44051401359 and NIP 123-456-32-18 paid by card 4111 1111 1111 1111 " +
        "from IBAN DE89 3704 0044 0532 0130 00 and asked us to call +48 600 123 456 or write to jan.kowalski@example.com again. " +
        "His servers 10.20.30.40 and 2001:db8::1 report to anna.nowak@example.org, US contact 123-45-6789, and the card " +
        "4111 1111 1111 1111 was charged twice; please reply to both addresses today with the refund details and a summary.";

    public static async Task<int> RunAsync()
    {
        var directory = Directory.CreateTempSubdirectory("llmrouter-bench-masking-");
        try
        {
            var ports = Enumerable.Range(0, 4).Select(_ => BenchMesh.FreePort()).ToArray();
            var (_, mesh, store) = await BenchMesh.CreateAsync(directory, Mesh(ports));
            await using var hosts = await BenchMesh.StartHostsAsync(mesh, ["a", "b"], ["i1"]);
            using var toA = BenchMesh.ClientChannel(store, ports[0]);
            await StreamBenchmark.WaitForAsync(toA, "far", routes: true);
            (string Name, string[] Labels)[] variants = [("unmasked", []), ("masked (10 values, 8 kinds)", [Label])];
            await CheckAsync(toA);
            foreach (var (_, labels) in variants)
            {
                await StreamBenchmark.MeasureAsync(toA, "far", StreamBenchmark.Concurrency, StreamBenchmark.Ask("far", 1000, Prompt, labels));
            }

            var first = variants.Select(_ => new List<double>()).ToArray();
            var samples = variants.Select(_ => (Ttft: new List<double>(), Gaps: new List<double>())).ToArray();
            for (var round = 0; round < 3; round++)
            {
                for (var i = 0; i < variants.Length; i++)
                {
                    first[i].AddRange(await StreamBenchmark.FirstTokensAsync(toA, "far", 200, StreamBenchmark.Ask("far", 1, Prompt, variants[i].Labels)));
                    var (ttft, gaps) = await StreamBenchmark.MeasureAsync(toA, "far", StreamBenchmark.Concurrency * 3, StreamBenchmark.Ask("far", 1000, Prompt, variants[i].Labels));
                    samples[i].Ttft.AddRange(ttft);
                    samples[i].Gaps.AddRange(gaps);
                }
            }

            Console.WriteLine("Masking's cost to a stream: client -> a -> i1 -> b, b echoing the prompt it received (64 words at 50 a second); the same prompt sent masked and unmasked, rounds alternating.");
            Console.WriteLine();
            Console.WriteLine($"{"request",-30} {"TTFT p50",9} {"TTFT p99",9} {"+TTFT p50",10} {"+TTFT p99",10} {"gap p50",8} {"gap p99",8} {"gap ratio p50/p99",18}");
            var plain = StreamBenchmark.Summary(samples[0], first[0]);
            for (var i = 0; i < variants.Length; i++)
            {
                var s = StreamBenchmark.Summary(samples[i], first[i]);
                Console.WriteLine($"{variants[i].Name,-30} {s.TtftP50,9:0.000} {s.TtftP99,9:0.000} {s.TtftP50 - plain.TtftP50,10:+0.000;-0.000} {s.TtftP99 - plain.TtftP99,10:+0.000;-0.000} {s.GapP50,8:0.000} {s.GapP99,8:0.000} {s.GapP50 / plain.GapP50,8:0.000}/{s.GapP99 / plain.GapP99:0.000}");
            }

            var masked = StreamBenchmark.Summary(samples[1], first[1]);
            Findings.Add("masking", "added time to first token, masked against unmasked (same path, same prompt)",
                $"p50 {masked.TtftP50 - plain.TtftP50:+0.000;-0.000} ms, p99 {masked.TtftP99 - plain.TtftP99:+0.000;-0.000} ms",
                $"unmasked p50 {plain.TtftP50:0.000}, p99 {plain.TtftP99:0.000} ms", "", null);
            Findings.Add("masking", "gap between tokens, masked against unmasked",
                $"p50 {masked.GapP50 / plain.GapP50:0.000}x, p99 {masked.GapP99 / plain.GapP99:0.000}x",
                $"unmasked p50 {plain.GapP50:0.0}, p99 {plain.GapP99:0.0} ms", "within 5% (no buffering)",
                Math.Abs((masked.GapP50 / plain.GapP50) - 1) <= 0.05 && Math.Abs((masked.GapP99 / plain.GapP99) - 1) <= 0.05);
            return 0;
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    /// <summary>The run measures what it says: the masked answer comes back whole, as the prompt was written.</summary>
    private static async Task CheckAsync(Grpc.Net.Client.GrpcChannel channel)
    {
        var client = new LlmRouter.V1.Router.RouterClient(channel);
        foreach (var labels in new[] { Array.Empty<string>(), [Label] })
        {
            var text = new System.Text.StringBuilder();
            using var call = client.Chat(StreamBenchmark.Ask("far", 1000, Prompt, labels));
            while (await call.ResponseStream.MoveNext(CancellationToken.None))
            {
                text.Append(call.ResponseStream.Current.Delta?.Text);
            }

            if (text.ToString() != Prompt)
            {
                throw new InvalidOperationException($"the echo came back changed ({(labels.Length > 0 ? "masked" : "unmasked")}): {text}");
            }
        }
    }

    private static string Mesh(int[] ports) => $$"""
        protection:
          masking:
            when: never
            rules:
              - { label: {{Label}}, when: leaving_subnet }
        pools:
          - name: pool-a
            nodes:
              - id: a
                listen: https://127.0.0.1:{{ports[0]}}
                backends:
                  - { id: sim-a, kind: simulated, simulated: { time_to_first_token: 0ms, tokens_per_second: 0 }, models: [ { id: other } ] }
          - name: pool-b
            nodes:
              - id: b
                listen: https://127.0.0.1:{{ports[1]}}
                backends:
                  - { id: echo, kind: simulated, max_concurrency: 1000, max_queue: 10000, simulated: { time_to_first_token: 0ms, tokens_per_second: 50, echo: true }, models: [ { id: far } ] }
        integrators:
          - id: i1
            pools:
              - { pool: pool-a, listen: https://127.0.0.1:{{ports[2]}} }
              - { pool: pool-b, listen: https://127.0.0.1:{{ports[3]}} }
        """;
}
