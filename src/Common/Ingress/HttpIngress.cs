using System.Buffers;
using System.Text.Json;
using Grpc.Core;
using LlmRouter.Common.Ingress.Anthropic;
using LlmRouter.Common.Ingress.OpenAI;
using LlmRouter.Common.Pipeline;
using LlmRouter.Common.Routing;
using LlmRouter.V1;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;

namespace LlmRouter.Common.Ingress;

/// <summary>
/// The HTTP ingress (DESIGN.md section 16): OpenAI's chat completions, models and embeddings, and
/// Anthropic's Messages, on the connections of a node's <c>http_listen</c> listener, mapped onto the one
/// pipeline the Router API runs (the same routing, policy labels, failover and continuation). Every
/// refusal is the provider's own error shape with the matching HTTP status; an error after the stream
/// began is the provider's error event. A client that closes its connection cancels the backend at once
/// (the pipeline runs on the request's abort token); every token is flushed as the backend yields it.
/// </summary>
internal sealed partial class HttpIngress(
    RequestDelegate next, ChatPipeline pipeline, EmbedPipeline embed, Arrivals arrivals, IRouterHost host, CandidateSource candidates, TimeProvider time, ILogger<HttpIngress> logger)
{
    private const string ChatCompletions = "/v1/chat/completions";
    private const string Messages = "/v1/messages";
    private const string Models = "/v1/models";
    private const string Embeddings = "/v1/embeddings";

    public async Task InvokeAsync(HttpContext context)
    {
        if (context.Features.Get<IngressListener>() is null)
        {
            await next(context).ConfigureAwait(false);
            return;
        }

        var request = context.Request;
        var anthropic = request.Path.StartsWithSegments(Messages, StringComparison.Ordinal)
            || (request.Path.StartsWithSegments(Models, StringComparison.Ordinal) && request.Headers.ContainsKey("anthropic-version"));
        try
        {
            switch (request.Method, request.Path.Value)
            {
                case ("POST", ChatCompletions):
                    await OpenAIChatAsync(context).ConfigureAwait(false);
                    break;
                case ("POST", Messages):
                    await AnthropicMessagesAsync(context).ConfigureAwait(false);
                    break;
                case ("GET", Models):
                    await ListModelsAsync(context, anthropic).ConfigureAwait(false);
                    break;
                case ("GET", var path) when path?.StartsWith(Models + "/", StringComparison.Ordinal) == true:
                    await GetModelAsync(context, path[(Models.Length + 1)..], anthropic).ConfigureAwait(false);
                    break;
                case ("POST", Embeddings):
                    await EmbeddingsAsync(context).ConfigureAwait(false);
                    break;
                case (_, ChatCompletions or Messages or Models or Embeddings):
                    context.Response.Headers.Allow = request.Path.Value == Models ? "GET" : "POST";
                    throw new IngressException(405, $"{request.Method} {request.Path}: method not allowed (use {context.Response.Headers.Allow})");
                default:
                    throw new IngressException(404, $"{request.Method} {request.Path}: no such endpoint here (POST {ChatCompletions}, POST {Messages}, GET {Models}, POST {Embeddings})");
            }
        }
        catch (Exception ex) when (context.RequestAborted.IsCancellationRequested && ex is OperationCanceledException or RpcException or IOException)
        {
            // The client closed the connection: the pipeline has cancelled the backend; there is no one to answer.
        }
        catch (IngressException ex)
        {
            await RefuseAsync(context, anthropic, ex.Status, ex.Message, ex.Param).ConfigureAwait(false);
        }
        catch (RpcException ex)
        {
            // The pipeline's words name the Router API; an HTTP client lists models with GET /v1/models.
            var said = ex.Status.Detail.Replace("ListModels lists them", $"GET {Models} lists them", StringComparison.Ordinal);
            var detail = anthropic ? AnthropicName(context, said) : OpenAIName(said, out _);
            if (IngressStatus.RetryAfter(ex) is { } retryAfter && !context.Response.HasStarted)
            {
                context.Response.Headers.RetryAfter = retryAfter;
            }

            var param = anthropic ? null : IngressStatus.FieldOf(detail);
            await RefuseAsync(context, anthropic, IngressStatus.Of(ex), detail, param).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // A bug, not a refusal: the client still gets the provider's error shape (or error event), never an empty 500.
            LogFailed(logger, request.Method, request.Path.Value ?? "", ex);
            await RefuseAsync(context, anthropic, StatusCodes.Status500InternalServerError, $"internal error: {ex.GetType().Name}", null).ConfigureAwait(false);
        }
    }

    private async Task OpenAIChatAsync(HttpContext context)
    {
        var chat = OpenAIChatReader.Read(await BodyAsync(context).ConfigureAwait(false));
        IngressRouting.Apply(context.Request.Headers, chat.Request);
        var call = new HttpCallContext(context, "/llmrouter.v1.Router/Chat");
        var created = time.GetUtcNow().ToUnixTimeSeconds();
        if (chat.Stream)
        {
            var stream = new OpenAIChatStream(context.Response, chat.IncludeUsage, created);
            context.Items[typeof(IngressStream)] = stream;
            await pipeline.ChatAsync(chat.Request, stream, call).ConfigureAwait(false);
            return;
        }

        var answer = new AnswerCollector();
        await pipeline.ChatAsync(chat.Request, answer, call).ConfigureAwait(false);
        await WriteAnswerAsync(context, answer, json => OpenAIChatAnswer.Write(json, answer, created)).ConfigureAwait(false);
    }

    private async Task AnthropicMessagesAsync(HttpContext context)
    {
        var messages = AnthropicMessagesReader.Read(await BodyAsync(context).ConfigureAwait(false));
        context.Items[typeof(AnthropicMessages)] = messages;
        IngressRouting.Apply(context.Request.Headers, messages.Request);
        var call = new HttpCallContext(context, "/llmrouter.v1.Router/Chat");
        if (messages.Stream)
        {
            var stream = new AnthropicMessageStream(context.Response);
            context.Items[typeof(IngressStream)] = stream;
            await pipeline.ChatAsync(messages.Request, stream, call).ConfigureAwait(false);
            return;
        }

        var answer = new AnswerCollector();
        await pipeline.ChatAsync(messages.Request, answer, call).ConfigureAwait(false);
        context.Response.Headers["request-id"] = answer.Route!.RequestId;
        await WriteAnswerAsync(context, answer, json => AnthropicMessageAnswer.Write(json, answer)).ConfigureAwait(false);
    }

    private async Task EmbeddingsAsync(HttpContext context)
    {
        var (request, base64) = OpenAIEmbeddings.Read(await BodyAsync(context).ConfigureAwait(false));
        request.PolicyLabels.AddRange(IngressRouting.LabelsOf(context.Request.Headers));
        var response = await embed.EmbedAsync(request, new HttpCallContext(context, "/llmrouter.v1.Router/Embed")).ConfigureAwait(false);
        IngressRouting.SetRoute(context.Response, response.Route);
        await WriteJsonAsync(context, 200, json => OpenAIEmbeddings.Write(json, response, base64)).ConfigureAwait(false);
    }

    /// <summary>Every model in reach of this node (its own, its pool's, and those routes lead to) that the caller's tenant may use, by id.</summary>
    private async Task ListModelsAsync(HttpContext context, bool anthropic)
    {
        var models = await ModelIdsAsync(context).ConfigureAwait(false);
        await WriteJsonAsync(context, 200, json => (anthropic ? (Action<Utf8JsonWriter, IReadOnlyList<string>>)IngressModels.WriteAnthropic : IngressModels.WriteOpenAI)(json, models)).ConfigureAwait(false);
    }

    private async Task GetModelAsync(HttpContext context, string id, bool anthropic)
    {
        if (!(await ModelIdsAsync(context).ConfigureAwait(false)).Contains(id, StringComparer.Ordinal))
        {
            throw new IngressException(404, $"model: no node in reach serves '{id}' (GET {Models} lists them)", "model");
        }

        await WriteJsonAsync(context, 200, json => (anthropic ? (Action<Utf8JsonWriter, string>)IngressModels.WriteAnthropicModel : IngressModels.WriteOpenAIModel)(json, id)).ConfigureAwait(false);
    }

    /// <summary>The models the caller (identified as for a chat: UNAUTHENTICATED without a credential where one is needed) may use.</summary>
    private async Task<List<string>> ModelIdsAsync(HttpContext context)
    {
        var snapshot = host.Current;
        var arrival = await arrivals.RouterAsync(new HttpCallContext(context, "/llmrouter.v1.Router/ListModels"), snapshot.Mesh).ConfigureAwait(false);
        var permits = new Access.TenantPermits(arrival.Tenant, arrival.Seat.Name, snapshot.Mesh.SourcePath);
        return [.. candidates.Gather(snapshot, includeRemote: true).Where(c => permits.Excludes(c) is null)
            .Select(c => c.Model).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)];
    }

    /// <summary>The request body as JSON, read within server.max_request_bytes.</summary>
    private async Task<JsonElement> BodyAsync(HttpContext context)
    {
        var limit = host.Current.Server.MaxRequestBytes;
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
        {
            size.MaxRequestBodySize = limit;
        }

        if (context.Request.ContentLength > limit)
        {
            throw new IngressException(413, $"request: {context.Request.ContentLength} bytes, over this mesh's limit of {limit} bytes (server.max_request_bytes in the mesh file)");
        }

        try
        {
            using var document = await JsonDocument.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted).ConfigureAwait(false);
            return document.RootElement.Clone();
        }
        catch (JsonException ex)
        {
            throw new IngressException(400, $"body: not valid JSON ({ex.Message})");
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            throw new IngressException(413, $"request: over this mesh's limit of {limit} bytes (server.max_request_bytes in the mesh file)");
        }
        catch (BadHttpRequestException ex) when (!context.RequestAborted.IsCancellationRequested)
        {
            // The client's framing, not ours: a body shorter than its Content-Length, broken chunks, a body sent too slowly.
            throw new IngressException(ex.StatusCode, $"body: {ex.Message}");
        }
    }

    private static async Task WriteAnswerAsync(HttpContext context, AnswerCollector answer, Action<Utf8JsonWriter> write)
    {
        IngressRouting.SetRoute(context.Response, answer.Route!);
        context.Response.Headers[IngressRouting.Hops] = IngressRouting.DescribeHops(answer.Completed!.Hops);
        await WriteJsonAsync(context, 200, write).ConfigureAwait(false);
    }

    /// <summary>
    /// A JSON body with its Content-Length: the response is complete with its last byte, so a client reads it
    /// without chunked framing and the connection is ready for the next request at once.
    /// </summary>
    private static async Task WriteJsonAsync(HttpContext context, int status, Action<Utf8JsonWriter> write)
    {
        var body = new ArrayBufferWriter<byte>(1024);
        using (var json = new Utf8JsonWriter(body, SseWriter.Options))
        {
            write(json);
        }

        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        context.Response.ContentLength = body.WrittenCount;
        await context.Response.Body.WriteAsync(body.WrittenMemory, context.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>The refusal in the provider's shape: a JSON error body, or the error event of a stream already begun.</summary>
    private static async Task RefuseAsync(HttpContext context, bool anthropic, int status, string message, string? param)
    {
        if (context.Response.HasStarted)
        {
            if (context.Items[typeof(IngressStream)] is IngressStream stream)
            {
                await stream.FailAsync(status, message, param, context.RequestAborted).ConfigureAwait(false);
            }

            return;
        }

        await WriteJsonAsync(context, status, json =>
        {
            if (anthropic)
            {
                AnthropicShapes.Error(json, status, message);
            }
            else
            {
                OpenAIErrors.Write(json, status, message, param);
            }
        }).ConfigureAwait(false);
    }

    [LoggerMessage(EventId = 1301, Level = LogLevel.Error, Message = "HTTP ingress {Method} {Path} failed")]
    private static partial void LogFailed(ILogger logger, string method, string path, Exception exception);

    /// <summary>A pipeline refusal with its field renamed to the one the Anthropic client sent (when its request was read).</summary>
    private static string AnthropicName(HttpContext context, string detail) =>
        IngressStatus.FieldOf(detail) is { } field && context.Items[typeof(AnthropicMessages)] is AnthropicMessages messages
            ? messages.FieldName(field) + detail[field.Length..]
            : detail;

    /// <summary>A pipeline refusal with its field renamed to the one the OpenAI client sent.</summary>
    private static string OpenAIName(string detail, out string? field)
    {
        field = IngressStatus.FieldOf(detail);
        return field is null ? detail : OpenAIChatReader.FieldName(field) + detail[field.Length..];
    }
}
