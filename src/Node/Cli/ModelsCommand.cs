using System.CommandLine;
using System.Globalization;
using LlmRouter.V1;

namespace LlmRouter.Node.Cli;

/// <summary><c>llm-router-node models</c>: lists the models a node can serve.</summary>
internal static class ModelsCommand
{
    public static Command Create()
    {
        var address = new NodeAddressOptions();
        var command = new Command("models", "List the models a node can serve");
        address.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var (channel, _) = address.Connect(parse);
            using (channel)
            {
                var response = await new Router.RouterClient(channel)
                    .ListModelsAsync(new ListModelsRequest(), deadline: TimeProvider.System.GetUtcNow().UtcDateTime.AddSeconds(10), cancellationToken: cancellationToken)
                    .ConfigureAwait(false);
                Console.WriteLine($"{"MODEL",-28} {"KIND",-10} {"NODE",-10} {"POOL",-12} {"BACKEND",-16} {"QUALITY",7} {"CONTEXT",8} {"$/M IN",7} {"$/M OUT",7} ALIASES");
                foreach (var model in response.Models)
                {
                    var kind = model.Kind == ModelKind.Embedding ? "embedding" : "chat";
                    var backend = $"{model.Backend}{(model.Cloud ? "*" : "")}";
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"{model.Id,-28} {kind,-10} {model.Node,-10} {model.Pool,-12} {backend,-16} {model.Quality,7:0.00} {model.ContextTokens,8} {model.Price.InputPerMillion,7:0.##} {model.Price.OutputPerMillion,7:0.##} {string.Join(",", model.Aliases)}"));
                }

                Console.WriteLine($"{response.Models.Count} model(s); * = cloud backend");
            }

            return 0;
        });
        return command;
    }
}
