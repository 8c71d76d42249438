using System.Reflection;
using Google.Protobuf;
using Grpc.AspNetCore.Server.Model;
using Grpc.Core;

namespace LlmRouter.Common.Grpc;

/// <summary>
/// Binds a generated gRPC service so that a message that is not valid protobuf fails with INTERNAL and a
/// message naming the expected type (the status gRPC's own implementations give), instead of the UNKNOWN
/// "Exception was thrown by handler" that a parse failure inside the framework produces.
/// </summary>
/// <remarks>
/// The service class must not derive from the generated base (whose binding attribute would bind it a
/// second time); it declares the same public methods. <paramref name="bindService"/> is the generated
/// static BindService, called with a null implementation as grpc-dotnet itself does to read the methods.
/// </remarks>
public sealed class StrictServiceMethodProvider<TService>(Action<ServiceBinderBase> bindService) : IServiceMethodProvider<TService>
    where TService : class
{
    public void OnServiceMethodDiscovery(ServiceMethodProviderContext<TService> context) => bindService(new Binder(context));

    private sealed class Binder(ServiceMethodProviderContext<TService> context) : ServiceBinderBase
    {
        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, UnaryServerMethod<TRequest, TResponse>? handler) =>
            context.AddUnaryMethod(Strict(method), [], Invoker<UnaryServerMethod<TService, TRequest, TResponse>>(method));

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ServerStreamingServerMethod<TRequest, TResponse>? handler) =>
            context.AddServerStreamingMethod(Strict(method), [], Invoker<ServerStreamingServerMethod<TService, TRequest, TResponse>>(method));

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ClientStreamingServerMethod<TRequest, TResponse>? handler) =>
            context.AddClientStreamingMethod(Strict(method), [], Invoker<ClientStreamingServerMethod<TService, TRequest, TResponse>>(method));

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, DuplexStreamingServerMethod<TRequest, TResponse>? handler) =>
            context.AddDuplexStreamingMethod(Strict(method), [], Invoker<DuplexStreamingServerMethod<TService, TRequest, TResponse>>(method));

        private static TDelegate Invoker<TDelegate>(IMethod method)
            where TDelegate : Delegate
        {
            var target = typeof(TService).GetMethod(method.Name, BindingFlags.Public | BindingFlags.Instance)
                ?? throw new InvalidOperationException($"{typeof(TService).Name} has no public method {method.Name} for {method.FullName}");
            return target.CreateDelegate<TDelegate>();
        }

        private static Method<TRequest, TResponse> Strict<TRequest, TResponse>(Method<TRequest, TResponse> method)
            where TRequest : class
            where TResponse : class
        {
            var inner = method.RequestMarshaller;
            var requestType = typeof(TRequest).GetProperty("Descriptor", BindingFlags.Public | BindingFlags.Static)?.GetValue(null) is Google.Protobuf.Reflection.MessageDescriptor descriptor
                ? descriptor.FullName
                : typeof(TRequest).Name;
            var request = new Marshaller<TRequest>(
                inner.ContextualSerializer,
                context =>
                {
                    try
                    {
                        return inner.ContextualDeserializer(context);
                    }
                    catch (InvalidProtocolBufferException ex)
                    {
                        throw new RpcException(new Status(StatusCode.Internal,
                            $"the request body is not a valid {requestType} ({ex.Message}); generate clients from protos/"));
                    }
                });
            return new Method<TRequest, TResponse>(method.Type, method.ServiceName, method.Name, request, method.ResponseMarshaller);
        }
    }
}
