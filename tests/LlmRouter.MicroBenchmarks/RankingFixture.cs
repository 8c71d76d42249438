using LlmRouter.Common.Configuration;
using LlmRouter.Common.Gossip;
using LlmRouter.Common.Pipeline;
using LlmRouter.V1;

namespace LlmRouter.MicroBenchmarks;

/// <summary>
/// A pool as one node sees it: members with four chat models each (one backend per model), every member
/// with a fresh load record of varied occupancy and time to first token. Deterministic for a given size.
/// </summary>
internal static class RankingFixture
{
    public const int ModelsPerMember = 4;

    private static readonly string[] ModelIds = ["llama-3.1-8b", "qwen-2.5-14b", "mistral-7b", "phi-4"];

    /// <summary>An entry node with no backends of its own: every candidate is a pool member's.</summary>
    public static HostSnapshot Snapshot() =>
        new(new MeshConfig("bench", "mesh.yaml", "certs", ServerSettings.Default, RoutingSettings.Default, []), []);

    public static List<MemberView> Members(int candidates)
    {
        var random = new Random(candidates);
        var members = new List<MemberView>
        {
            new("entry", "https://127.0.0.1:7000", "pool-a", MemberRole.Node, 1, MemberStatus.Alive, TimeSpan.Zero, null, null, IsSelf: true),
        };
        for (var i = 0; i < candidates / ModelsPerMember; i++)
        {
            var id = $"n{i:D4}";
            var models = new ModelRecord { Member = id, Version = 1 };
            var load = new LoadRecord { Member = id, Sequence = 1, TtlMs = 5000 };
            for (var m = 0; m < ModelsPerMember; m++)
            {
                models.Models.Add(new ModelInfo
                {
                    Id = ModelIds[m],
                    Node = id,
                    Pool = "pool-a",
                    Backend = $"b{m}",
                    BackendKind = "ollama",
                    Quality = 0.5 + (0.1 * m),
                    ContextTokens = 32_768,
                    Features = { "tools" },
                    Kind = ModelKind.Chat,
                    Price = new Price { InputPerMillion = 0.1 * m, OutputPerMillion = 0.3 * m },
                });
                var backendLoad = new BackendLoad
                {
                    Backend = $"b{m}",
                    InFlight = (uint)random.Next(0, 4),
                    Queued = (uint)random.Next(0, 2),
                    MaxConcurrency = 4,
                    TimeToFirstTokenMs = 80 + random.Next(0, 200),
                };
                if (random.Next(2) == 0)
                {
                    backendLoad.WarmModels.Add(ModelIds[m]);
                }

                load.Backends.Add(backendLoad);
            }

            members.Add(new MemberView(id, $"https://10.0.{i / 250}.{i % 250}:7000", "pool-a", MemberRole.Node, 1, MemberStatus.Alive,
                TimeSpan.Zero, models, load, IsSelf: false));
        }

        return members;
    }
}
