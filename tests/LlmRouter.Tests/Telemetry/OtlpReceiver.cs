using System.Collections.Concurrent;
using System.Net;
using LlmRouter.Tests.Telemetry.Otlp;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace LlmRouter.Tests.Telemetry;

/// <summary>
/// A collector for the trace test: OTLP over HTTP with protobuf bodies (<c>POST /v1/traces</c>) on loopback,
/// keeping every span it is sent with the service instance that sent it.
/// </summary>
internal sealed class OtlpReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;

    private OtlpReceiver(WebApplication app, Uri endpoint)
    {
        _app = app;
        Endpoint = endpoint;
    }

    /// <summary>The address a mesh file's telemetry.otlp.endpoint names (protocol http/protobuf).</summary>
    public Uri Endpoint { get; }

    public ConcurrentBag<ReceivedSpan> Spans { get; } = [];

    public static async Task<OtlpReceiver> StartAsync()
    {
        var port = Infrastructure.TestMesh.FreePort();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, port, endpoint => endpoint.Protocols = HttpProtocols.Http1));
        var app = builder.Build();
        var receiver = new OtlpReceiver(app, new Uri($"http://127.0.0.1:{port}"));
        app.MapPost("/v1/traces", receiver.ReceiveAsync);
        await app.StartAsync();
        return receiver;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private async Task ReceiveAsync(HttpContext context)
    {
        using var body = new MemoryStream();
        await context.Request.Body.CopyToAsync(body);
        var request = ExportTraceServiceRequest.Parser.ParseFrom(body.ToArray());
        foreach (var resource in request.ResourceSpans)
        {
            var instance = resource.Resource?.Attributes.FirstOrDefault(a => a.Key == "service.instance.id")?.Value.StringValue ?? "";
            foreach (var span in resource.ScopeSpans.SelectMany(scope => scope.Spans))
            {
                Spans.Add(new ReceivedSpan(instance, span));
            }
        }

        context.Response.ContentType = "application/x-protobuf";
    }
}

/// <summary>A span as the receiver got it, with the node or integrator that sent it.</summary>
internal sealed record ReceivedSpan(string Instance, Span Span)
{
    public string TraceId => Convert.ToHexStringLower(Span.TraceId.Span);

    public string SpanId => Convert.ToHexStringLower(Span.SpanId.Span);

    public string ParentId => Convert.ToHexStringLower(Span.ParentSpanId.Span);

    public string? Attribute(string key) => Span.Attributes.FirstOrDefault(a => a.Key == key)?.Value switch
    {
        null => null,
        { ValueCase: AnyValue.ValueOneofCase.StringValue } value => value.StringValue,
        { ValueCase: AnyValue.ValueOneofCase.IntValue } value => value.IntValue.ToString(System.Globalization.CultureInfo.InvariantCulture),
        { ValueCase: AnyValue.ValueOneofCase.DoubleValue } value => value.DoubleValue.ToString(System.Globalization.CultureInfo.InvariantCulture),
        { ValueCase: AnyValue.ValueOneofCase.BoolValue } value => value.BoolValue ? "true" : "false",
        _ => "",
    };

    public override string ToString() => $"{Instance}: {Span.Name} ({SpanId} < {ParentId})";
}
