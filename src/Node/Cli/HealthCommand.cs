using System.CommandLine;
using Grpc.Health.V1;

namespace LlmRouter.Node.Cli;

/// <summary><c>llm-router-node health</c>: asks grpc.health.v1 whether a node is serving (exit code 0 when it is).</summary>
internal static class HealthCommand
{
    public static Command Create()
    {
        var address = new NodeAddressOptions();
        var service = new Option<string>("--service") { Description = "Service to ask about; empty means the whole node", DefaultValueFactory = _ => "" };
        var watch = new Option<bool>("--watch") { Description = "Keep printing every change of status" };
        var command = new Command("health", "Show whether a node is serving") { service, watch };
        address.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var (channel, description) = address.Connect(parse);
            using (channel)
            {
                var client = new Health.HealthClient(channel);
                var request = new HealthCheckRequest { Service = parse.GetValue(service)! };
                if (parse.GetValue(watch))
                {
                    using var call = client.Watch(request, cancellationToken: cancellationToken);
                    while (await call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false))
                    {
                        Console.WriteLine($"{description}: {call.ResponseStream.Current.Status}");
                    }

                    return 0;
                }

                var response = await client.CheckAsync(request, deadline: TimeProvider.System.GetUtcNow().UtcDateTime.AddSeconds(5), cancellationToken: cancellationToken)
                    .ConfigureAwait(false);
                Console.WriteLine($"{description}: {response.Status}");
                return response.Status == HealthCheckResponse.Types.ServingStatus.Serving ? 0 : 1;
            }
        });
        return command;
    }
}
