# A real Kubernetes API for the chart (included by the top-level Makefile; see docs/cluster-tests.md).
#
#   make k8s-tools      kube-apiserver, kube-controller-manager, kube-scheduler and kwok built from the
#                       Go module proxy (tools/k8s/build.sh) into a per-machine cache; etcd from Debian (apt).
#                       Only these: the real node's kubelet, kube-proxy, CoreDNS and kube-router are
#                       mk/kind.mk's node-tools, which make test does not build
#   make test-cluster   start etcd + the control plane + kwok fake nodes on 127.0.0.1 and run
#                       tests/cluster: helm install/upgrade/uninstall of the CPU and GPU scenarios
#   make cluster-up     the same cluster in the foreground, for poking at it (Ctrl-C stops it)
#
# The binaries are cached outside the repository, in
# $${VOICE_K8S_CACHE:-$${XDG_CACHE_HOME:-$$HOME/.cache}/voice-agent-stack}/k8s-v<version>/bin: the
# first build takes a while on two cores (docs/cluster-tests.md has the numbers), later ones are a stamp check.

K8S_BUILD := tools/k8s/build.sh
SUDO := $(shell [ "$$(id -u)" = 0 ] || ! command -v sudo >/dev/null || echo sudo)

.PHONY: k8s-tools k8s-etcd test-cluster cluster-up

TEST_DEPS += k8s-tools

k8s-etcd: ## etcd from Debian's etcd-server package (apt-get, once)
	@command -v etcd >/dev/null 2>&1 || [ -x /usr/bin/etcd ] || { \
	  echo ">> installing etcd-server with apt-get"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends etcd-server >/dev/null; }
	@etcd --version | head -1

k8s-tools: k8s-etcd ## kube-apiserver/controller-manager/scheduler + kwok (built once per machine, cached outside the repo) + etcd
	$(K8S_BUILD)

test-cluster: install k8s-tools helm-tools ## helm install/upgrade/uninstall the chart on a real API server with kwok fake GPU/CPU nodes
	$(PY) -m pytest -ra tests/cluster

cluster-up: install k8s-tools ## start the test cluster in the foreground (prints KUBECONFIG; Ctrl-C stops it)
	$(PY) tools/k8s/cluster.py up
