#!/usr/bin/env python3
"""Sends N concurrent streamed chats to an llm-router-node and counts how each one ended.

Every request ends in exactly one of: whole (completed on one route), continued (completed after a seam,
another backend continued the answer), or a gRPC status. Nothing may vanish: the script checks that the
counts add up to the requests sent, and exits 1 if not.

  python3 load_client.py --stubs OUT_DIR --address 127.0.0.1:7101 --ca certs/dev/ca.crt \
      [--cert certs/dev/client.crt --key certs/dev/client.key] --model auto --requests 50 --concurrency 10
"""
import argparse
import collections
import concurrent.futures
import sys


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stubs", required=True)
    parser.add_argument("--address", required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--model", default="auto")
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--max-tokens", type=int, default=40)
    parser.add_argument("--no-continuation", action="store_true", help="do not allow continuation after a failure")
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
    channel = grpc.secure_channel(args.address, credentials)
    stub = router_pb2_grpc.RouterStub(channel)

    def one(index: int) -> str:
        request = router_pb2.ChatRequest(
            model=args.model,
            messages=[router_pb2.ChatMessage(role=router_pb2.ROLE_USER, content=f"question {index}")],
            allow_continuation=not args.no_continuation,
        )
        request.sampling.max_tokens = args.max_tokens
        routes = 0
        try:
            for frame in stub.Chat(request, timeout=120):
                kind = frame.WhichOneof("frame")
                if kind == "route":
                    routes += 1
                elif kind == "completed":
                    if routes != 1:
                        return "more than one route frame"
                    return "continued" if frame.completed.continued else "whole"
            return "stream ended without a final frame or status"
        except grpc.RpcError as error:
            partial = any(key == "llmrouter-partial" for key, _ in (error.trailing_metadata() or ()))
            return f"status {error.code().name}" + (" (partial)" if partial else "")

    with concurrent.futures.ThreadPoolExecutor(max_workers=args.concurrency) as pool:
        outcomes = list(pool.map(one, range(args.requests)))

    counts = collections.Counter(outcomes)
    print(f"{args.requests} sent: " + ", ".join(f"{count} {outcome}" for outcome, count in sorted(counts.items())))
    vanished = counts["stream ended without a final frame or status"] + counts["more than one route frame"]
    return 0 if sum(counts.values()) == args.requests and vanished == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
