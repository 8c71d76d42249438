using System.Diagnostics;
using OpenTelemetry;

namespace LlmRouter.Common.Telemetry;

/// <summary>
/// Gives Grpc.Net.Client's call spans the names and attributes of the RPC semantic conventions (the library
/// names every call "Grpc.Net.Client.GrpcOut" and tags it <c>grpc.method</c>): "llmrouter.v1.Router/Chat",
/// with <c>rpc.system</c>, <c>rpc.service</c>, <c>rpc.method</c> and <c>rpc.grpc.status_code</c>. Runs when a
/// recorded span ends, before the exporter's processor, so it costs nothing on a request that is not traced.
/// </summary>
internal sealed class GrpcClientSpans : BaseProcessor<Activity>
{
    /// <summary>Grpc.Net.Client's activity source.</summary>
    public const string Source = "Grpc.Net.Client";

    public override void OnEnd(Activity data)
    {
        if (data.Source.Name != Source || data.GetTagItem("grpc.method") is not string path)
        {
            return;
        }

        var method = RpcMethod.Parse(path);
        data.DisplayName = method.Name;
        RpcMethod.Tag(data, method);
        if (data.GetTagItem("grpc.status_code") is string status && int.TryParse(status, System.Globalization.CultureInfo.InvariantCulture, out var code))
        {
            data.SetTag("rpc.grpc.status_code", code);
        }
    }
}

/// <summary>A gRPC method path ("/package.Service/Method") as the RPC semantic conventions name its parts.</summary>
internal readonly record struct RpcMethod(string Service, string Method)
{
    /// <summary>The span name the conventions ask for: "package.Service/Method".</summary>
    public string Name => Service + "/" + Method;

    public static RpcMethod Parse(string path)
    {
        var trimmed = path.TrimStart('/');
        var slash = trimmed.LastIndexOf('/');
        return slash < 0 ? new RpcMethod(trimmed, "") : new RpcMethod(trimmed[..slash], trimmed[(slash + 1)..]);
    }

    public static void Tag(Activity activity, RpcMethod method)
    {
        activity.SetTag("rpc.system", "grpc");
        activity.SetTag("rpc.service", method.Service);
        activity.SetTag("rpc.method", method.Method);
    }
}
