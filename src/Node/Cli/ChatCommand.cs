using LlmRouter.Common.Protocol;
using System.CommandLine;
using Grpc.Core;
using LlmRouter.Common.Configuration;
using LlmRouter.V1;

namespace LlmRouter.Node.Cli;

/// <summary><c>llm-router-node chat "question"</c>: streams an answer from any node, printing the route and timings.</summary>
internal static class ChatCommand
{
    public static Command Create()
    {
        var address = new NodeAddressOptions();
        var prompt = new Argument<string>("prompt") { Description = "The user message" };
        var model = new Option<string>("--model", "-m") { Description = "Model id, alias or auto", DefaultValueFactory = _ => "auto" };
        var system = new Option<string?>("--system") { Description = "A system message before the prompt" };
        var maxTokens = new Option<uint?>("--max-tokens") { Description = "Most tokens to generate" };
        var profile = new Option<string?>("--profile") { Description = "Routing profile: balanced, quality, cost or latency" };
        var mode = new Option<string>("--mode") { Description = "auto, local or broadcast", DefaultValueFactory = _ => "auto" };
        var labels = new Option<string[]>("--label") { Description = "Policy label (repeatable): on-prem-only, subnet-only", AllowMultipleArgumentsPerToken = false };
        var deadline = new Option<string>("--deadline") { Description = "Deadline for the whole answer, e.g. 30s", DefaultValueFactory = _ => "120s" };

        var command = new Command("chat", "Stream a chat answer from a node") { prompt, model, system, maxTokens, profile, mode, labels, deadline };
        address.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var request = new ChatRequest
            {
                Model = parse.GetValue(model)!,
                RoutingProfile = parse.GetValue(profile) ?? "",
                Mode = ParseMode(parse.GetValue(mode)!),
                Sampling = new SamplingParameters(),
            };
            if (parse.GetValue(system) is { } systemText)
            {
                request.Messages.Add(new V1.ChatMessage { Role = Role.System, Content = systemText });
            }

            request.Messages.Add(new V1.ChatMessage { Role = Role.User, Content = parse.GetValue(prompt)! });
            if (parse.GetValue(maxTokens) is { } max)
            {
                request.Sampling.MaxTokens = max;
            }

            request.PolicyLabels.AddRange(parse.GetValue(labels) ?? []);
            var (channel, _) = address.Connect(parse);
            using (channel)
            {
                var client = new Router.RouterClient(channel);
                return await StreamAsync(client, request, Deadline(parse.GetValue(deadline)!), Console.Out, Console.Error, cancellationToken).ConfigureAwait(false);
            }
        });
        return command;
    }

    /// <summary>Streams one answer: the route and final figures go to <paramref name="info"/>, the text to <paramref name="output"/>.</summary>
    public static async Task<int> StreamAsync(
        Router.RouterClient client, ChatRequest request, TimeSpan deadline, TextWriter output, TextWriter info, CancellationToken cancellationToken)
    {
        using var call = client.Chat(request, deadline: TimeProvider.System.GetUtcNow().UtcDateTime + deadline, cancellationToken: cancellationToken);
        await foreach (var frame in call.ResponseStream.ReadAllAsync(cancellationToken).ConfigureAwait(false))
        {
            switch (frame.FrameCase)
            {
                case ChatResponse.FrameOneofCase.Route:
                    await info.WriteLineAsync(DescribeRoute(frame.Route)).ConfigureAwait(false);
                    break;
                case ChatResponse.FrameOneofCase.Delta:
                    await output.WriteAsync(frame.Delta.Text).ConfigureAwait(false);
                    await output.FlushAsync(cancellationToken).ConfigureAwait(false);
                    break;
                case ChatResponse.FrameOneofCase.Seam:
                    await info.WriteLineAsync($"{Environment.NewLine}[continued by {DescribeRoute(frame.Seam.Route)}: {frame.Seam.Reason}]").ConfigureAwait(false);
                    break;
                case ChatResponse.FrameOneofCase.Completed:
                    await output.WriteLineAsync().ConfigureAwait(false);
                    await info.WriteLineAsync(DescribeCompletion(frame.Completed)).ConfigureAwait(false);
                    break;
            }
        }

        return 0;
    }

    public static string DescribeRoute(RouteInfo route) =>
        $"route: {string.Join(" -> ", route.Path.Select(h => $"{h.Node} ({h.Pool})"))} | serving node {route.ServingNode}, backend {route.Backend} ({route.BackendKind}), model {route.Model}, request {route.RequestId}";

    public static string DescribeCompletion(ChatCompleted completed)
    {
        var hops = string.Join("; ", completed.Hops.Select(h =>
            $"{h.Node}: first token {h.TimeToFirstToken.ToTimeSpan().TotalMilliseconds:0} ms, queue {h.QueueWait.ToTimeSpan().TotalMilliseconds:0} ms, total {h.Total.ToTimeSpan().TotalMilliseconds:0} ms"));
        var usage = completed.Usage is { } u ? $"tokens in {u.InputTokens}, out {u.OutputTokens}" : "no usage reported";
        return $"finish: {completed.FinishReason}, {usage} | {hops}";
    }

    private static RoutingMode ParseMode(string text) => text switch
    {
        "auto" => RoutingMode.Auto,
        "local" => RoutingMode.Local,
        "broadcast" => RoutingMode.Broadcast,
        _ => throw new CliException($"--mode: '{text}' is not auto, local or broadcast"),
    };

    private static TimeSpan Deadline(string text)
    {
        if (string.IsNullOrEmpty(text) || !Durations.TryParse(text, out var value))
        {
            throw new CliException($"--deadline: '{text}' is not a duration (write 30s, 500ms or 2m)");
        }

        return value;
    }
}
