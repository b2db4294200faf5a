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

stamp() { stamp_of "$LDFLAGS" "$HERE/go.mod" "$HERE/go.sum"; }
current() { [[ -x "$BINARY" ]] && stamp_matches "$CACHE_DIR/stamp" "$(stamp)"; }

build_mode "$BINARY" "$@"

if current; then echo "$BINARY"; exit 0; fi

GO_BIN="$(find_go Jaeger)"
lock_cache "$CACHE_DIR"
if current; then echo "$BINARY"; exit 0; fi

start_build "$CACHE_DIR" "Jaeger all-in-one v$JAEGER_VERSION with $("$GO_BIN" version) into $BIN_DIR"
echo ">> (a cold build downloads ~190 modules: 6.5 min on 2 busy cores, 2026-11-28)" >&2
(cd "$HERE" && "$GO_BIN" build -ldflags "$LDFLAGS" -o "$BUILD_TMP/jaeger-all-in-one" "$PACKAGE")
install_build "$BIN_DIR" "$CACHE_DIR/stamp" "$(stamp)" jaeger-all-in-one
echo "$BINARY"
