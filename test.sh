#!/usr/bin/env bash
# Runs every check of the project: buf lint of protos/, then the whole test suite (unit, functional on
# real Kestrel hosts over mutual TLS, a Python grpcio client generated from protos/, and the integrator
# scenarios on real network namespaces, which need root and iproute2).
# Tools the tests need are installed first when missing: nodejs and npm (as root, Debian), buf and the
# official openai and @anthropic-ai/sdk packages (npm), and, as root, protoc, the gRPC Python plugin,
# grpcio, iproute2 and prometheus (Debian packages; the metrics tests scrape a mesh with a real Prometheus).
set -euo pipefail
cd "$(dirname "$0")"

BUF_VERSION=1.75.0
# libprotobuf-dev holds the well-known types (google/protobuf/duration.proto) the protos import: protoc only
# recommends it, and recommendations are not installed.
DEBIAN_PACKAGES=(protobuf-compiler libprotobuf-dev protobuf-compiler-grpc python3-grpcio python3-protobuf iproute2 prometheus)

if ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "== installing nodejs and npm (apt)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
  else
    echo "missing npm (for buf and the OpenAI and Anthropic SDK tests): run 'sudo apt-get install nodejs npm'" >&2
    exit 1
  fi
fi

if ! command -v buf >/dev/null 2>&1; then
  echo "== installing buf $BUF_VERSION (npm @bufbuild/buf) into .ci/tools"
  npm install --silent --no-audit --no-fund --prefix .ci/tools "@bufbuild/buf@$BUF_VERSION" >/dev/null
  export PATH="$PWD/.ci/tools/node_modules/.bin:$PATH"
fi

if ! command -v protoc >/dev/null 2>&1 || ! command -v grpc_python_plugin >/dev/null 2>&1 \
   || [ ! -f /usr/include/google/protobuf/duration.proto ] \
   || ! /usr/bin/python3 -c 'import grpc, google.protobuf' >/dev/null 2>&1 || ! command -v ip >/dev/null 2>&1 \
   || ! command -v prometheus >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "== installing ${DEBIAN_PACKAGES[*]} (apt)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${DEBIAN_PACKAGES[@]}" >/dev/null
  else
    echo "missing protoc, the protobuf well-known types, grpc_python_plugin, python3 grpcio, ip or prometheus: run 'sudo apt-get install ${DEBIAN_PACKAGES[*]}'" >&2
    exit 1
  fi
fi

if [ ! -d tests/clients/node/node_modules ]; then
  echo "== installing the official openai and @anthropic-ai/sdk npm packages (tests/clients/node)"
  npm ci --silent --no-audit --no-fund --prefix tests/clients/node >/dev/null
fi

echo "== buf lint"
buf lint

echo "== dotnet test"
log=$(mktemp)
set +e
dotnet test LlmRouter.sln -c Release 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One summary line in the form CI tools read: "N passed, N failed".
summary=$(grep -E '(Passed|Failed)!' "$log" | tail -1 || true)
passed=$(sed -nE 's/.*Passed: *([0-9]+).*/\1/p' <<<"$summary")
failed=$(sed -nE 's/.*Failed: *([0-9]+),.*/\1/p' <<<"$summary")
rm -f "$log"
echo "${passed:-0} passed, ${failed:-0} failed"
exit "$status"
