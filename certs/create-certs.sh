#!/usr/bin/env bash
# Creates the mesh CA and every missing node and client certificate for a mesh file (default: the sample).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
config="${1:-$root/mesh.sample.yaml}"
exec dotnet run --project "$root/src/Node" -- certs --config "$config"
