namespace LlmRouter.Benchmarks;

/// <summary>
/// The floor of a .NET HTTP gateway, for the peer benchmark: Kestrel takes the request and HttpClient sends
/// it to the upstream, and the answer's bytes are copied back as they arrive (each read flushed), with
/// nothing read, parsed or decided on the way. Our ingress does everything this does plus its own work
/// (JSON in and out, routing, the SSE of the answer), so the gap between the two is ours to shrink, and
/// the gap between this and nginx is the framework's.
/// </summary>
internal static class DotNetProxy
{
    /// <summary><c>llmrouter-bench serve-dotnet-proxy PORT UPSTREAM_PORT</c>: the proxy as a process of its own, until killed.</summary>
    public static async Task<int> ServeAsync(int port, int upstreamPort)
    {
        var builder = LoopbackHttp1.Builder(port);
        using var upstream = new HttpClient(new SocketsHttpHandler
        {
            MaxConnectionsPerServer = int.MaxValue,
            UseProxy = false,
            MaxResponseDrainSize = 0,
        })
        { Timeout = Timeout.InfiniteTimeSpan };
        var target = new Uri($"http://127.0.0.1:{upstreamPort}/");
        await ServeAsync(builder, context => ForwardAsync(context, upstream, target), $"dotnet proxy serving on http://127.0.0.1:{port} in front of {target}");
        return 0;
    }

    /// <summary>Serves every request with <paramref name="forward"/> until the process is killed.</summary>
    public static async Task ServeAsync(WebApplicationBuilder builder, RequestDelegate forward, string banner)
    {
        await using var app = builder.Build();
        app.Run(forward);
        await app.StartAsync();
        Console.WriteLine(banner);
        await app.WaitForShutdownAsync();
    }

    private static async Task ForwardAsync(HttpContext context, HttpClient upstream, Uri target)
    {
        var aborted = context.RequestAborted;
        using var request = new HttpRequestMessage(new HttpMethod(context.Request.Method), new Uri(target, context.Request.Path + context.Request.QueryString))
        {
            Content = new StreamContent(context.Request.Body),
        };
        if (context.Request.ContentType is { } contentType)
        {
            request.Content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        }

        using var response = await upstream.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, aborted);
        context.Response.StatusCode = (int)response.StatusCode;
        context.Response.ContentType = response.Content.Headers.ContentType?.ToString();
        if (response.Content.Headers.ContentLength is { } length)
        {
            context.Response.ContentLength = length;
        }

        await CopyFlushingAsync(response, context.Response, aborted);
    }

    /// <summary>The upstream answer's body copied to the client as it arrives, each read flushed.</summary>
    public static async Task CopyFlushingAsync(HttpResponseMessage from, HttpResponse to, CancellationToken cancellationToken)
    {
        await using var body = await from.Content.ReadAsStreamAsync(cancellationToken);
        var buffer = new byte[16 * 1024];
        int read;
        while ((read = await body.ReadAsync(buffer, cancellationToken)) > 0)
        {
            await to.Body.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
            await to.Body.FlushAsync(cancellationToken);
        }
    }
}
