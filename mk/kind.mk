# The chart on a REAL single-node cluster on this machine, offline (included by the top-level Makefile;
# docs/kind.md says why it is not kind and what runs).
#
#   make node-up node-images node-load node-deploy   start the node, build the CPU images (local Debian
#                                                    base, no registry), load them, helm install + helm test
#   make node-undeploy node-down                     and away again
#   make test-kind                                   all of it from scratch, tests/kind against it, torn down (slow)
#   make node-tools                                  kubelet, kube-proxy, CoreDNS, kube-router built from the Go module
#                                                    proxy (tools/k8s/build.sh node) into the per-machine cache of
#                                                    make k8s-tools; only these targets need them, not make test
#
# node-up/-load/-deploy/-down are this machine's counterparts of mk/chart.mk's kind-up/kind-load/
# deploy/kind-down (those need kind's node image from a registry). The node needs root.

NODE_PY := $(PY) tools/k8s/node.py
NODE_KUBECONFIG := $(abspath $(CACHE))/node/kubeconfig
NODE_IMAGES := gateway stt tts llm-cpu models
NODE_URL := ws://10.244.0.1:30786/ws

.PHONY: node-tools node-deps node-up node-images node-load node-deploy node-undeploy node-down node-status test-kind

node-tools: ## kubelet, kube-proxy, CoreDNS + kube-router for the node (built once per machine, cached outside the repo)
	$(K8S_BUILD) node

node-deps: k8s-etcd ## containerd, runc, CNI plugins, iptables, conntrack, ipset from Debian (apt-get, once)
	@command -v containerd >/dev/null && command -v runc >/dev/null && [ -x /usr/lib/cni/bridge ] && \
	  command -v iptables >/dev/null && command -v conntrack >/dev/null && command -v ipset >/dev/null || { \
	  echo ">> installing containerd, runc, containernetworking-plugins, iptables, conntrack with apt-get"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends \
	    containerd runc containernetworking-plugins iptables conntrack ipset >/dev/null; }

node-up: install k8s-tools node-tools helm-tools node-deps ## start the single-node cluster (containerd, kubelet, kube-proxy, CoreDNS, kube-router NetworkPolicy), detached
	$(NODE_PY) up

node-images: install images-base ## build the CPU images offline (as test-images: local Debian base, dockerd without bridge)
	DOCKER_BUILDKIT=0 $(MAKE) images DOCKER=$(HOST_DOCKER) BASE_IMAGE=$(IMAGES_BASE) DOCKER_BUILD_FLAGS="--network host"

node-load: docker-daemon ## docker save the CPU images | ctr import into the node's containerd (skips unchanged ones)
	$(NODE_PY) load --docker $(HOST_DOCKER) $(foreach i,$(NODE_IMAGES),$(IMAGE_PREFIX)/$(i):$(IMAGE_TAG))

node-deploy: ## make deploy (helm upgrade --install --wait, helm test) on the node
	$(MAKE) deploy KUBECONFIG=$(NODE_KUBECONFIG)

node-undeploy: ## make undeploy on the node
	$(MAKE) undeploy KUBECONFIG=$(NODE_KUBECONFIG)

node-status: ## what of the node runs
	$(NODE_PY) status

node-down: ## stop the node: pods, containerd, kubelet, control plane, bridge, iptables rules, mounts
	$(NODE_PY) down

test-kind: install k8s-tools node-tools helm-tools node-deps node-images ## the chart on a real node from scratch: up, load, install, helm test, tests/kind, down (slow)
	$(NODE_PY) down
	$(NODE_PY) run -- bash -c '$(MAKE) --no-print-directory node-load node-deploy && \
	  VOICE_TEST_KIND=1 VOICE_KIND_URL=$(NODE_URL) VOICE_KIND_NAMESPACE=$(NAMESPACE) VOICE_KIND_RELEASE=$(RELEASE) \
	  $(PY) -m pytest -ra -p no:cacheprovider tests/kind'
