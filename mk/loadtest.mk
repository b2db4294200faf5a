# Load tests (included by the top-level Makefile): k6 or Locust callers that speak the gateway's
# real protocol, a concurrency ramp up to the latency budget, and a report (markdown, JSON, PNG).
#
#   make loadtest                                       start the local stack, ramp 1, 2, 4 callers, stop it
#   make loadtest LOADTEST_URL=ws://10.0.0.5:7860/ws    load a gateway that is already running (a cluster's)
#   make loadtest LOADTEST_ENGINE=locust LOADTEST_MAX_USERS=8 LOADTEST_SECONDS=600 LOADTEST_OUT=docs

LOADTEST_URL ?=
LOADTEST_ENGINE ?= k6
LOADTEST_MAX_USERS ?= 4
LOADTEST_SECONDS ?= 240
LOADTEST_TURNS ?= 2
LOADTEST_OUT ?= .cache/loadtest

.PHONY: loadtest

loadtest: install ## ramp concurrent callers until p95 mouth-to-ear breaks the budget; report in LOADTEST_OUT (LOADTEST_URL: another gateway)
	$(PY) -m loadtest $(if $(LOADTEST_URL),--url $(LOADTEST_URL)) --engine $(LOADTEST_ENGINE) \
	  --max-users $(LOADTEST_MAX_USERS) --seconds $(LOADTEST_SECONDS) --turns $(LOADTEST_TURNS) --out $(LOADTEST_OUT)

SOAK_USERS ?= 2
SOAK_MINUTES ?= 5
SOAK_OUT ?= .cache/soak

.PHONY: soak

soak: install ## N callers for M minutes plus hang-up storms; RSS, fds, sockets and session gauges before/after (SOAK_OUT)
	$(PY) -m loadtest.soak $(if $(LOADTEST_URL),--url $(LOADTEST_URL)) --engine $(LOADTEST_ENGINE) \
	  --users $(SOAK_USERS) --minutes $(SOAK_MINUTES) --out $(SOAK_OUT)
