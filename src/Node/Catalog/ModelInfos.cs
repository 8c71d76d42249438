using LlmRouter.Common.Configuration;
using LlmRouter.V1;

namespace LlmRouter.Node.Catalog;

/// <summary>The node's models as the API and the gossiped model records describe them.</summary>
internal static class ModelInfos
{
    public static IEnumerable<ModelInfo> Of(CatalogSnapshot snapshot)
    {
        foreach (var (backend, model) in snapshot.Models)
        {
            var info = new ModelInfo
            {
                Id = model.Id,
                Kind = model.Kind == ModelKindConfig.Chat ? ModelKind.Chat : ModelKind.Embedding,
                Node = snapshot.Node.Id,
                Pool = snapshot.Node.Pool,
                Backend = backend.Id,
                BackendKind = BackendKindNames.Name(backend.Config.Kind),
                Cloud = backend.Config.IsCloud,
                Quality = model.Quality,
                ContextTokens = (uint)model.ContextTokens,
                Price = new Price { InputPerMillion = model.InputPricePerMillion, OutputPerMillion = model.OutputPricePerMillion },
            };
            info.Aliases.AddRange(model.Aliases);
            info.Features.AddRange(model.Features);
            yield return info;
        }
    }
}
