using System.Diagnostics;
using BenchmarkDotNet.Attributes;
using LlmRouter.Common.Configuration;
using LlmRouter.Common.Ingress;
using LlmRouter.Common.Routing;
using LlmRouter.Common.Telemetry;
using LlmRouter.V1;
using Microsoft.AspNetCore.Http;
using OpenTelemetry;
using OpenTelemetry.Trace;

namespace LlmRouter.MicroBenchmarks;

/// <summary>
/// The spans one chat served on its entry node makes (issue 12's cost target at concurrency 1): the request's
/// <c>chat</c> span with the routing decision, its attempt, and the backend call with its answer, as
/// <c>ChatPipeline</c> and <c>LocalChatExecutor</c> make them, under the SDK as the node wires it (the mesh's sampler,
/// the gRPC span processor, a batch processor to an exporter that drops). What a traced request pays on its own path;
/// the exporter's thread's work is not here. Not sampled, the same calls find no span to make.
/// </summary>
[MemoryDiagnoser]
public class TracingBenchmarks : IDisposable
{
    private TracerProvider _provider = null!;
    private RequestTracing _tracing = null!;
    private readonly ChatRequest _request = new() { Model = "small" };
    private readonly HttpCallContext _context = new(new DefaultHttpContext(), "/v1/chat/completions");
    private readonly BackendCall _call = new("chat", "openai-compatible", "small", "mock");
    private readonly RouteCandidate _candidate = new()
    {
        Node = "n1", Pool = "pool-a", Address = "https://127.0.0.1:7001", Backend = "mock", BackendKind = "openai-compatible",
        Cloud = false, Model = "small", Aliases = [], Kind = ModelKindConfig.Chat, Quality = 0.5, ContextTokens = 8192,
        Features = [], InputPricePerMillion = 0.1, OutputPricePerMillion = 0.3,
    };

    private ScoredCandidate[] _ranked = [];

    /// <summary>Whether the request is traced (false: traces exported, this request not sampled).</summary>
    [Params(false, true)]
    public bool Sampled { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _provider = Sdk.CreateTracerProviderBuilder()
            .SetSampler(new MeshSampler())
            .AddSource(MeshMeter.Name)
            .AddSource(GrpcClientSpans.Source)
            .AddProcessor(new GrpcClientSpans())
            .AddProcessor(new BatchActivityExportProcessor(new DroppingExporter()))
            .Build()!;
        _tracing = new RequestTracing(true, Sampled ? 1.0 : 0.0, new TraceBudget(0, TimeProvider.System), () => 0.5);
        _ranked = [new ScoredCandidate(_candidate, 0.75)];
    }

    [Benchmark]
    public void OneServedRequestsSpans()
    {
        using var chat = RouterSpans.Chat(_request, "0123456789abcdef", entry: true, "default", _context, _tracing);
        RouterSpans.Ranked(chat, _ranked);
        using var attempt = RouterSpans.Attempt(_candidate, 1);
        using var call = RouterSpans.BackendCall(_call, "small-upstream");
        RouterSpans.Answered(call, 24, 48, FinishReason.Stop, TimeSpan.FromMilliseconds(2));
    }

    public void Dispose()
    {
        _provider?.Dispose();
        GC.SuppressFinalize(this);
    }

    [GlobalCleanup]
    public void Cleanup() => Dispose();

    private sealed class DroppingExporter : BaseExporter<Activity>
    {
        public override ExportResult Export(in Batch<Activity> batch) => ExportResult.Success;
    }
}
