using System.Text.Json;
using LlmRouter.Common.Protection;

namespace LlmRouter.Tests.Protection;

/// <summary>
/// The in-process injection and jailbreak rules against a corpus of 271 prompts in the styles of public collections
/// (Samples/injection-samples.json): 138 attacks across overrides in twelve languages, prompt leaking, fake authority,
/// text addressed to the model in tool results, encodings, the DAN family, refusal suppression and more, and 133
/// ordinary prompts that use the same words ("ignore my previous message", "developer mode on my phone"). The rules
/// are heuristics, so the test holds their rates, and names every sample that moved: a rule change that loses
/// attacks or starts flagging ordinary prose shows here.
/// </summary>
public sealed class InjectionCorpusTests
{
    private sealed record Sample(string Text, bool Attack, string Technique);

    [Fact]
    public void Corpus_MostAttacksAreCaught_AndFewOrdinaryPromptsAreFlagged()
    {
        var path = Path.Combine(Common.MeshConfigLoaderTests.RepositoryRoot(), "tests", "LlmRouter.Tests", "Protection", "Samples", "injection-samples.json");
        var samples = JsonSerializer.Deserialize<List<Sample>>(File.ReadAllText(path), new JsonSerializerOptions { PropertyNameCaseInsensitive = true })!;
        bool Caught(Sample sample) => InjectionRules.Checks.Any(check => InjectionRules.Find(check, sample.Text) is not null);

        var attacks = samples.Where(s => s.Attack).ToList();
        var ordinary = samples.Where(s => !s.Attack).ToList();
        var missed = attacks.Where(s => !Caught(s)).ToList();
        var flagged = ordinary.Where(Caught).ToList();

        Assert.True(attacks.Count > 100 && ordinary.Count > 100, "the corpus is whole");
        Assert.True(missed.Count <= attacks.Count / 10, $"{missed.Count} of {attacks.Count} attacks missed:\n{string.Join("\n", missed.Select(s => $"  [{s.Technique}] {s.Text}"))}");
        Assert.True(flagged.Count <= ordinary.Count / 20, $"{flagged.Count} of {ordinary.Count} ordinary prompts flagged:\n{string.Join("\n", flagged.Select(s => $"  {s.Text}"))}");
    }
}
