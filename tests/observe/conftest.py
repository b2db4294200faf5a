"""A real Prometheus (Debian's package, `make prometheus`) scraping the real local stack every second."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from prometheus_support import SCRAPE_S, Prometheus
from voice_agent.observe import PROMETHEUS, ScrapeTarget, prometheus_spec
from voice_agent.processes import ServiceProcess
from voice_testkit.services import LOG_DIR, free_port


@pytest.fixture(scope="module")
def prometheus_for(tmp_path_factory) -> Iterator:
    """Factory: start Prometheus scraping ``targets`` and wait until every one of them was scraped."""
    if not PROMETHEUS.exists():
        pytest.fail(f"{PROMETHEUS} is missing: run `make prometheus` (a prerequisite of `make test`)", pytrace=False)
    started: list[ServiceProcess] = []

    def start(targets: list[ScrapeTarget]) -> Prometheus:
        port = free_port()
        spec = prometheus_spec(tmp_path_factory.mktemp("prometheus"), targets, port, SCRAPE_S, name=f"prometheus-{port}")
        proc = ServiceProcess(spec, LOG_DIR)
        started.append(proc)
        proc.wait_ready(60)
        prometheus = Prometheus(spec.base_url)
        prometheus.wait_for_targets(len(targets))
        return prometheus

    yield start
    for proc in started:
        proc.stop()
