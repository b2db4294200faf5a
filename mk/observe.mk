# Prometheus for the local stack and for the tests that query it (included by the top-level Makefile).
#
#   make prometheus   Debian's prometheus package (2.42: prometheus + promtool; apt-get, once)
#   make observe      the local stack (as `make up`) plus a Prometheus scraping it every second
#                     (generated prometheus.yml, data under .cache/observe); Ctrl-C stops both
#
# tests/observe starts the same Prometheus against the test stack and queries every dashboard
# panel; tests/chart runs `promtool test rules` on the chart's rendered PrometheusRule.
# Debian's package also brings a system service on port 9090 (started where systemd runs it);
# ours is a separate process on OBSERVE_PROMETHEUS_PORT, so the two never collide.

SUDO ?= $(shell [ "$$(id -u)" = 0 ] || ! command -v sudo >/dev/null || echo sudo)
OBSERVE_PROMETHEUS_PORT ?= 9191

.PHONY: prometheus observe

TEST_DEPS += prometheus

prometheus: ## Debian's prometheus + promtool 2.42 for tests/observe and the alert-rule tests (apt-get, once)
	@[ -x /usr/bin/prometheus ] && [ -x /usr/bin/promtool ] || { \
	  echo ">> installing prometheus with apt-get"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq -o DPkg::Lock::Timeout=300 \
	    --no-install-recommends prometheus >/dev/null; }
	@/usr/bin/prometheus --version 2>&1 | head -1

observe: install prometheus ## the local stack plus Prometheus scraping it and evaluating the alerts (http://127.0.0.1:9191/); Ctrl-C stops both
	$(BIN)/voice-agent up --observe --prometheus-port $(OBSERVE_PROMETHEUS_PORT)
