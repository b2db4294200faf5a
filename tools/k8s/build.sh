#!/usr/bin/env bash
# Build the Kubernetes pieces the tests run from the Go module proxy (the modules in this directory) into
# a cache directory outside the repository, once per machine, in two sets with a stamp each:
#
#   control plane (default)  kube-apiserver, kube-controller-manager, kube-scheduler, kwok and kwok's stages
#                            file: the kwok test cluster of tests/cluster (`make k8s-tools`, part of `make test`)
#   node                     kubelet, kube-proxy, a CoreDNS with the few plugins it uses (coredns/) and
#                            kube-router's NetworkPolicy controller (kube-router/; both their own modules):
#                            the real single-node cluster of tools/k8s/node.py (`make node-tools`, `make test-kind`)
#
#   tools/k8s/build.sh [node]            build the set if missing or stale, print the bin directory
#   tools/k8s/build.sh [node] --print    only print the bin directory (builds nothing)
#   tools/k8s/build.sh [node] --check    exit 0 if the set's cached binaries are present and current
#
# The cache: ${VOICE_K8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/voice-agent-stack}/k8s-v<version>/bin, one
# directory for both sets, with a stamp per set (stamp.control-plane, stamp.node) of its modules' go.mod and
# go.sum and the build flags, so editing a module (e.g. a version bump) rebuilds the sets built from it.
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
STAGES=kwok-stages.yaml

SET=control-plane
[[ "${1:-}" == node ]] && { SET=node; shift; }
BUILD_USAGE="[node] "
if [[ "$SET" == node ]]; then
  OUTPUTS=(kubelet kube-proxy coredns kube-router)
else
  OUTPUTS=(kube-apiserver kube-controller-manager kube-scheduler kwok "$STAGES")
fi

# Version stamps as the upstream release builds set them (hack/lib/version.sh, kwok hack/releases.sh):
# without them /version says v0.0.0-master and helm's kubeVersion checks fail.
LDFLAGS="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  LDFLAGS+=" -X $pkg.gitVersion=v$K8S_VERSION -X $pkg.gitMajor=${K8S_VERSION%%.*}"
  minor="${K8S_VERSION#*.}"; LDFLAGS+=" -X $pkg.gitMinor=${minor%%.*}"
  LDFLAGS+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
LDFLAGS+=" -X sigs.k8s.io/kwok/pkg/consts.Version=v$KWOK_VERSION -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=v$K8S_VERSION"

# stamp SET: the control plane is built from go.mod alone, the node set from all three modules.
stamp() {
  local files=("$HERE"/go.{mod,sum})
  [[ "$1" == node ]] && files+=("$HERE"/coredns/go.{mod,sum} "$HERE"/kube-router/go.{mod,sum})
  stamp_of "$LDFLAGS" "${files[@]}"
}
current() {
  stamp_matches "$CACHE_DIR/stamp.$SET" "$(stamp "$SET")" || legacy_current || return 1
  local f
  for f in "${OUTPUTS[@]}"; do [[ -f "$BIN_DIR/$f" ]] || return 1; done
}
# A cache built before the split holds both sets under one stamp, $CACHE_DIR/stamp, of what is now the
# node set's inputs (all three modules). While it matches it stands for both sets; a build run (below)
# turns it into their two stamps.
legacy_current() { stamp_matches "$CACHE_DIR/stamp" "$(stamp node)"; }

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

build_mode "$BIN_DIR" "$@"

if legacy_current; then
  for s in control-plane node; do stamp "$s" > "$CACHE_DIR/stamp.$s"; done
  rm -f "$CACHE_DIR/stamp"
fi
if current; then echo "$BIN_DIR"; exit 0; fi

GO_BIN="$(find_go "the test cluster's binaries")"
lock_cache "$CACHE_DIR"
if current; then echo "$BIN_DIR"; exit 0; fi

start_build "$CACHE_DIR" "the $SET set, ${OUTPUTS[*]} (Kubernetes v$K8S_VERSION, kwok v$KWOK_VERSION) with $("$GO_BIN" version) into $BIN_DIR"
echo ">> (a cold build takes a while on few cores: see docs/cluster-tests.md)" >&2
cd "$HERE"
if [[ "$SET" == node ]]; then
  "$GO_BIN" build -ldflags "$LDFLAGS" -o "$BUILD_TMP/" k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy
  # CoreDNS and kube-router from their own modules, so their dependencies leave the ones above alone.
  (cd coredns && "$GO_BIN" build -ldflags "-s -w" -o "$BUILD_TMP/" .)
  (cd kube-router && "$GO_BIN" build -o "$BUILD_TMP/" \
    -ldflags "-s -w -X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=$KUBE_ROUTER_VERSION" \
    github.com/cloudnativelabs/kube-router/v2/cmd/kube-router)
else
  "$GO_BIN" build -ldflags "$LDFLAGS" -o "$BUILD_TMP/" k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler sigs.k8s.io/kwok/cmd/kwok
  write_stages "$BUILD_TMP/$STAGES"
fi
install_build "$BIN_DIR" "$CACHE_DIR/stamp.$SET" "$(stamp "$SET")" "${OUTPUTS[@]}"
echo "$BIN_DIR"
