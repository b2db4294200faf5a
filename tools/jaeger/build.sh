#!/usr/bin/env bash
# Build Jaeger's all-in-one (collector with its OTLP receiver + query API, in-memory storage) from the
# Go module proxy into a cache directory outside the repository, once per machine: the trace backend
# of `make observe` and tests/observe (docs/observability.md).
#
#   tools/jaeger/build.sh            build if missing or stale, print the binary's path
#   tools/jaeger/build.sh --print    only print the binary's path (builds nothing)
#   tools/jaeger/build.sh --check    exit 0 if the cached binary is present and current
#
# The cache: ${VOICE_JAEGER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/voice-agent-stack}/jaeger-v<version>/bin,
# with a stamp of go.mod, go.sum and the build flags, so a version bump in go.mod rebuilds. The module
# in this directory pins Jaeger's own dependency versions (its go.sum is what `go get -tool` resolved
# from Jaeger's go.mod). The machine's Go builds it (PATH, /usr/local/go/bin/go or $GO) with the
# machine's own GOPROXY and GOTOOLCHAIN settings. No registry address is written here.
#
# Jaeger's UI is not embedded: its built assets come from the jaeger-ui repository's release, which no
# package registry carries, so the binary serves Jaeger's placeholder page at / and the full HTTP API
# (/api/services, /api/traces, /api/traces/<id>) that tests/observe reads and Grafana's Jaeger data
# source queries.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/../go-build.sh"
JAEGER_VERSION="$(sed -n 's/^[[:space:]]*github.com\/jaegertracing\/jaeger v\([0-9.]*\).*$/\1/p' "$HERE/go.mod" | head -1)"
[[ -n "$JAEGER_VERSION" ]] || { echo "no github.com/jaegertracing/jaeger version in $HERE/go.mod" >&2; exit 1; }
PACKAGE=github.com/jaegertracing/jaeger/cmd/all-in-one
CACHE_ROOT="${VOICE_JAEGER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/voice-agent-stack}"
CACHE_DIR="$CACHE_ROOT/jaeger-v$JAEGER_VERSION"
BIN_DIR="$CACHE_DIR/bin"
BINARY="$BIN_DIR/jaeger-all-in-one"
# The version the release build stamps (Makefile's BUILD_INFO), so /api/... and --version name it.
LDFLAGS="-s -w -X github.com/jaegertracing/jaeger/internal/version.latestVersion=v$JAEGER_VERSION"
LDFLAGS+=" -X github.com/jaegertracing/jaeger/internal/version.commitSHA=v$JAEGER_VERSION"

stamp() { { cat "$HERE/go.mod" "$HERE/go.sum"; echo "CGO_ENABLED=0 -trimpath $LDFLAGS"; } | sha256sum | cut -d' ' -f1; }
current() { [[ -x "$BINARY" && -f "$CACHE_DIR/stamp" && "$(cat "$CACHE_DIR/stamp")" == "$(stamp)" ]]; }

build_mode "$BINARY" "${1:-}"

if current; then echo "$BINARY"; exit 0; fi

GO_BIN="$(find_go Jaeger)"
lock_cache "$CACHE_DIR"
if current; then echo "$BINARY"; exit 0; fi

tmp="$(mktemp -d "$CACHE_DIR/build.XXXXXX")" && chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
echo ">> building Jaeger all-in-one v$JAEGER_VERSION with $("$GO_BIN" version) into $BIN_DIR" >&2
echo ">> (a cold build downloads ~190 modules: 6.5 min on 2 busy cores, 2026-11-28)" >&2
(
  cd "$HERE"
  export CGO_ENABLED=0 GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"
  export GOFLAGS="${GOFLAGS:-} -p=${BUILD_JOBS:-2} -mod=readonly -trimpath"
  "$GO_BIN" build -ldflags "$LDFLAGS" -o "$tmp/jaeger-all-in-one" "$PACKAGE"
)
[[ -x "$tmp/jaeger-all-in-one" ]] || { echo "build produced no jaeger-all-in-one" >&2; exit 1; }
rm -rf "$BIN_DIR" && mv "$tmp" "$BIN_DIR" && trap - EXIT
stamp > "$CACHE_DIR/stamp"
echo ">> built in $(( $(date +%s) - start ))s: $(ls -l "$BINARY")" >&2
echo "$BINARY"
