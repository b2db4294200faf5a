#!/usr/bin/env bash
# Build kube-apiserver, kube-controller-manager, kube-scheduler, kwok (the kwok test cluster) and kubelet +
# kube-proxy + a CoreDNS with the few plugins it uses (coredns/) + kube-router's NetworkPolicy controller
# (kube-router/; both their own modules) for the real single-node cluster (tools/k8s/node.py), from the Go module proxy (the modules in this directory) into a cache directory outside the repository, once per machine.
#
#   tools/k8s/build.sh            build if missing or stale, print the bin directory
#   tools/k8s/build.sh --print    only print the bin directory (builds nothing)
#   tools/k8s/build.sh --check    exit 0 if the cached binaries are present and current
#
# The cache: ${VOICE_K8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/voice-agent-stack}/k8s-<version>/bin,
# with a stamp of both modules' go.mod and go.sum and the build flags, so editing a module (e.g. a version bump) rebuilds.
# The machine's Go builds them (on PATH, /usr/local/go/bin/go, or $GO), with the machine's own
# GOPROXY and GOTOOLCHAIN settings: a Go >= 1.21 with GOTOOLCHAIN=auto fetches the toolchain go.mod
# asks for through the configured proxy. No registry address is written here.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/../go-build.sh"
K8S_VERSION="$(sed -n 's/^[[:space:]]*k8s.io\/kubernetes v\([0-9.]*\).*$/\1/p' "$HERE/go.mod" | head -1)"
KWOK_VERSION="$(sed -n 's/^[[:space:]]*sigs.k8s.io\/kwok v\([0-9.]*\).*$/\1/p' "$HERE/go.mod" | head -1)"
KUBE_ROUTER_VERSION="$(sed -n 's/^[[:space:]]*github.com\/cloudnativelabs\/kube-router\/v2 \(v[0-9.]*\).*$/\1/p' "$HERE/kube-router/go.mod" | head -1)"
[[ -n "$K8S_VERSION" && -n "$KWOK_VERSION" ]] || { echo "no k8s.io/kubernetes or sigs.k8s.io/kwok version in $HERE/go.mod" >&2; exit 1; }
CACHE_ROOT="${VOICE_K8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/voice-agent-stack}"
CACHE_DIR="$CACHE_ROOT/k8s-v$K8S_VERSION"
BIN_DIR="$CACHE_DIR/bin"
BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kwok kubelet kube-proxy coredns kube-router)
STAGES=kwok-stages.yaml
PACKAGES=(k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager
  k8s.io/kubernetes/cmd/kube-scheduler sigs.k8s.io/kwok/cmd/kwok
  k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy)

# Version stamps as the upstream release builds set them (hack/lib/version.sh, kwok hack/releases.sh):
# without them /version says v0.0.0-master and helm's kubeVersion checks fail.
LDFLAGS="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  LDFLAGS+=" -X $pkg.gitVersion=v$K8S_VERSION -X $pkg.gitMajor=${K8S_VERSION%%.*}"
  minor="${K8S_VERSION#*.}"; LDFLAGS+=" -X $pkg.gitMinor=${minor%%.*}"
  LDFLAGS+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
LDFLAGS+=" -X sigs.k8s.io/kwok/pkg/consts.Version=v$KWOK_VERSION -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=v$K8S_VERSION"

stamp() { { cat "$HERE"/go.{mod,sum} "$HERE"/coredns/go.{mod,sum} "$HERE"/kube-router/go.{mod,sum}; echo "CGO_ENABLED=0 -trimpath $LDFLAGS"; } | sha256sum | cut -d' ' -f1; }

binaries_current() {
  [[ -f "$CACHE_DIR/stamp" && "$(cat "$CACHE_DIR/stamp")" == "$(stamp)" ]] || return 1
  for b in "${BINARIES[@]}"; do [[ -x "$BIN_DIR/$b" ]] || return 1; done
}
current() { binaries_current && [[ -f "$BIN_DIR/$STAGES" ]]; }

# The kwok binary has no built-in behaviour: it needs Stage objects. These are the defaults kwokctl
# gives it (pkg/kwokctl/runtime/cluster.go), from the same module version: node initialize +
# heartbeat with a lease, pod ready/complete/delete.
write_stages() {
  local dir
  dir="$(cd "$HERE" && GOFLAGS=-mod=readonly "$GO_BIN" mod download -json sigs.k8s.io/kwok | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [[ -d "$dir/kustomize/stage" ]] || { echo "sigs.k8s.io/kwok source not found (got '$dir')" >&2; exit 1; }
  for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
           pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    echo "---"; grep -v '^#' "$dir/kustomize/stage/$f"
  done > "$1"
}

build_mode "$BIN_DIR" "${1:-}"

if current; then echo "$BIN_DIR"; exit 0; fi

GO_BIN="$(find_go "the test cluster's binaries")"
lock_cache "$CACHE_DIR"
if current; then echo "$BIN_DIR"; exit 0; fi
if binaries_current; then write_stages "$BIN_DIR/$STAGES"; echo "$BIN_DIR"; exit 0; fi

tmp="$(mktemp -d "$CACHE_DIR/build.XXXXXX")" && chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
echo ">> building ${BINARIES[*]} (Kubernetes v$K8S_VERSION, kwok v$KWOK_VERSION) with $("$GO_BIN" version) into $BIN_DIR" >&2
echo ">> (a cold build takes a while on few cores: see docs/cluster-tests.md)" >&2
(
  cd "$HERE"
  export CGO_ENABLED=0 GOFLAGS="-p=${BUILD_JOBS:-2} -mod=readonly -trimpath" GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"
  "$GO_BIN" build -ldflags "$LDFLAGS" -o "$tmp/" "${PACKAGES[@]}"
  # CoreDNS from its own module (coredns/go.mod), so its dependencies leave the ones above alone.
  cd "$HERE/coredns" && "$GO_BIN" build -ldflags "-s -w" -o "$tmp/" .
  cd "$HERE/kube-router" && "$GO_BIN" build -o "$tmp/" \
    -ldflags "-s -w -X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=$KUBE_ROUTER_VERSION" \
    github.com/cloudnativelabs/kube-router/v2/cmd/kube-router
)
write_stages "$tmp/$STAGES"
for b in "${BINARIES[@]}"; do [[ -x "$tmp/$b" ]] || { echo "build produced no $b" >&2; exit 1; }; done
rm -rf "$BIN_DIR" && mv "$tmp" "$BIN_DIR" && trap - EXIT
stamp > "$CACHE_DIR/stamp"
echo ">> built in $(( $(date +%s) - start ))s:" >&2
(cd "$BIN_DIR" && ls -l "${BINARIES[@]}" >&2)
echo "$BIN_DIR"
