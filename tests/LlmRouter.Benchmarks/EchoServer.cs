using Grpc.Core;
using LlmRouter.Common.Identity;
using LlmRouter.V1;

namespace LlmRouter.Benchmarks;

/// <summary>
/// The bare reference every figure is a ratio against: a gRPC server with the Router service's message
/// shapes (route frame, deltas, completed) and nothing behind them, over the same mutual TLS as a node
/// (client certificate required and checked against the mesh CA), on the same Kestrel HTTP/2 limits.
/// A caller can ask for pacing with the <c>bench-first-ms</c> and <c>bench-pace-ms</c> headers, as a
/// simulated backend paces its deltas.
/// </summary>
internal static class EchoServer
{
    public const string FirstHeader = "bench-first-ms";
    public const string PaceHeader = "bench-pace-ms";

    /// <param name="certificate">The mesh member whose certificate the echo presents (as that member would).</param>
    public static async Task<WebApplication> StartAsync(CertificateStore store, string certificate, int port)
    {
        var builder = LoopbackMeshTls.Builder(store, certificate, port);
        builder.Services.AddGrpc();
        var app = builder.Build();
        app.MapGrpcService<EchoRouter>();
        await app.StartAsync();
        return app;
    }

    /// <summary><c>llmrouter-bench serve-echo CERTIFICATES MEMBER PORT</c>: the reference as a process of its own, until killed.</summary>
    public static async Task<int> ServeAsync(string certificates, string certificate, int port)
    {
        await using var app = await StartAsync(new CertificateStore(certificates), certificate, port);
        Console.WriteLine($"echo serving on https://127.0.0.1:{port}");
        await app.WaitForShutdownAsync();
        return 0;
    }

    /// <summary>Streams the frames a node would, with nothing behind them.</summary>
    private sealed class EchoRouter : Router.RouterBase
    {
        public override async Task Chat(ChatRequest request, IServerStreamWriter<ChatResponse> responseStream, ServerCallContext context)
        {
            var first = Milliseconds(context, FirstHeader);
            var pace = Milliseconds(context, PaceHeader);
            var started = TimeProvider.System.GetTimestamp();
            var route = new RouteInfo { RequestId = Guid.NewGuid().ToString("N"), ServingNode = "echo", Backend = "echo", Model = request.Model, BackendKind = "echo", Attempt = 1 };
            route.Path.Add(new Hop { Node = "echo", Pool = "pool" });
            await responseStream.WriteAsync(new ChatResponse { Route = route });
            for (var i = 0; i < request.Sampling.MaxTokens; i++)
            {
                // Due times from the start, as the simulated backend keeps them: no drift from slow writes.
                var wait = first + (pace * i) - TimeProvider.System.GetElapsedTime(started);
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, context.CancellationToken);
                }

                await responseStream.WriteAsync(new ChatResponse { Delta = new TextDelta { Text = " token" } });
            }

            var completed = new ChatCompleted { FinishReason = FinishReason.Length, Usage = new TokenUsage { InputTokens = 1, OutputTokens = request.Sampling.MaxTokens } };
            completed.Hops.Add(new HopTiming { Node = "echo" });
            await responseStream.WriteAsync(new ChatResponse { Completed = completed });
        }

        private static TimeSpan Milliseconds(ServerCallContext context, string header) =>
            context.RequestHeaders.GetValue(header) is { } value && int.TryParse(value, out var ms) ? TimeSpan.FromMilliseconds(ms) : TimeSpan.Zero;
    }
}
