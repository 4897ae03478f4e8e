#!/usr/bin/env bash
# make bench: runs every benchmark from the release build; prints "name: value unit" lines.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(swift build -c release --show-bin-path)
echo "# gateway benchmarks, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -r)"
"$BIN/gateway-bench" "$@"
