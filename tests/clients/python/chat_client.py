#!/usr/bin/env python3
"""Streams one chat from an llm-router-node with stubs generated from protos/ (grpcio).

Generate the stubs first (see README.md), then:
  python3 chat_client.py --stubs OUT_DIR --address 127.0.0.1:7101 --ca certs/dev/ca.crt \
      [--cert certs/dev/client.crt --key certs/dev/client.key] --model auto "What is a mesh?"

Prints the route, the streamed text and the final frame; exits 1 with the gRPC status on failure.
"""
import argparse
import sys


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stubs", required=True, help="directory holding the generated llmrouter/v1 modules")
    parser.add_argument("--address", required=True, help="host:port of a node")
    parser.add_argument("--ca", required=True, help="PEM file of the mesh CA")
    parser.add_argument("--cert", help="client certificate (PEM), for mutual TLS")
    parser.add_argument("--key", help="client private key (PEM)")
    parser.add_argument("--model", default="auto")
    parser.add_argument("--max-tokens", type=int)
    parser.add_argument("prompt")
    args = parser.parse_args()

    sys.path.insert(0, args.stubs)
    import grpc
    from llmrouter.v1 import router_pb2, router_pb2_grpc

    def read(path):
        with open(path, "rb") as handle:
            return handle.read()

    credentials = grpc.ssl_channel_credentials(
        root_certificates=read(args.ca),
        private_key=read(args.key) if args.key else None,
        certificate_chain=read(args.cert) if args.cert else None,
    )
    request = router_pb2.ChatRequest(
        model=args.model,
        messages=[router_pb2.ChatMessage(role=router_pb2.ROLE_USER, content=args.prompt)],
    )
    if args.max_tokens:
        request.sampling.max_tokens = args.max_tokens

    with grpc.secure_channel(args.address, credentials) as channel:
        stub = router_pb2_grpc.RouterStub(channel)
        try:
            for frame in stub.Chat(request, timeout=60):
                kind = frame.WhichOneof("frame")
                if kind == "route":
                    print(f"ROUTE serving_node={frame.route.serving_node} backend={frame.route.backend} model={frame.route.model}", flush=True)
                elif kind == "delta":
                    print(f"DELTA {frame.delta.text}", flush=True)
                elif kind == "completed":
                    done = frame.completed
                    finish = router_pb2.FinishReason.Name(done.finish_reason)
                    print(f"DONE finish={finish} output_tokens={done.usage.output_tokens} hops={len(done.hops)}", flush=True)
        except grpc.RpcError as error:
            print(f"STATUS {error.code().name} {error.details()}", flush=True)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
