# Prometheus and Jaeger for the local stack and for the tests that query them (included by the top-level Makefile).
#
#   make prometheus   Debian's prometheus package (2.42: prometheus + promtool; apt-get, once)
#   make jaeger       Jaeger v1.76 all-in-one built from the Go module proxy (tools/jaeger) into a
#                     per-machine cache outside the repo, once (6.5 min cold on 2 cores)
#   make observe      the local stack (as `make up`) exporting its spans to Jaeger, plus a Prometheus
#                     scraping it every second with exemplar storage (generated prometheus.yml, data
#                     under .cache/observe); Ctrl-C stops them all
#
# tests/observe starts the same Prometheus and Jaeger against the test stack, queries every dashboard
# panel and reads a turn's trace back; tests/chart runs `promtool test rules` on the chart's rendered PrometheusRule.
# Debian's package also brings a system service on port 9090 (started where systemd runs it);
# ours is a separate process on OBSERVE_PROMETHEUS_PORT, so the two never collide.

SUDO ?= $(shell [ "$$(id -u)" = 0 ] || ! command -v sudo >/dev/null || echo sudo)
OBSERVE_PROMETHEUS_PORT ?= 9191
OBSERVE_JAEGER_PORT ?= 16686
JAEGER_BUILD := tools/jaeger/build.sh

.PHONY: prometheus jaeger observe

TEST_DEPS += prometheus jaeger

prometheus: ## Debian's prometheus + promtool 2.42 for tests/observe and the alert-rule tests (apt-get, once)
	@[ -x /usr/bin/prometheus ] && [ -x /usr/bin/promtool ] || { \
	  echo ">> installing prometheus with apt-get"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq -o DPkg::Lock::Timeout=300 \
	    --no-install-recommends prometheus >/dev/null; }
	@/usr/bin/prometheus --version 2>&1 | head -1

jaeger: ## Jaeger all-in-one v1.76 for tests/observe and make observe (go build from the module proxy, cached per machine)
	@nice -n 10 $(JAEGER_BUILD)

observe: install prometheus jaeger ## the local stack plus Prometheus (http://127.0.0.1:9191/, alerts, exemplars) and Jaeger (traces: http://127.0.0.1:16686/api/traces); Ctrl-C stops all
	$(BIN)/voice-agent up --observe --prometheus-port $(OBSERVE_PROMETHEUS_PORT) --jaeger-port $(OBSERVE_JAEGER_PORT)
