"""The gateway's own view of a load step: per-stage p50/p95 from its Prometheus histograms.

A step's numbers are the difference between two scrapes of ``/metrics`` (before and after the
step), so turns from earlier steps or other callers before it do not blur them; quantiles are
interpolated within buckets the way PromQL's ``histogram_quantile`` does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx
from prometheus_client.parser import text_string_to_metric_families

from voice_gateway.metrics import STAGE_HISTOGRAMS

# stage -> histogram family name as exported (e.g. "stt" -> "voice_stt_latency_seconds")
STAGE_FAMILIES = {stage: histogram.describe()[0].name for stage, histogram in STAGE_HISTOGRAMS.items()}
COUNTERS = ("voice_turns", "voice_upstream_errors", "voice_sessions_rejected", "voice_client_errors")

Buckets = dict[float, float]  # upper bound (le) -> cumulative count


@dataclass(frozen=True)
class Scrape:
    """One reading of ``/metrics``: each stage's cumulative buckets and the counters' totals."""

    buckets: dict[str, Buckets]
    counters: dict[str, float]

    def __sub__(self, before: Scrape) -> Scrape:
        return Scrape(
            buckets={
                stage: {le: count - before.buckets.get(stage, {}).get(le, 0.0) for le, count in buckets.items()}
                for stage, buckets in self.buckets.items()
            },
            counters={name: value - before.counters.get(name, 0.0) for name, value in self.counters.items()},
        )


def metrics_url(gateway_ws_url: str) -> str:
    """``ws://host:port/ws`` -> ``http://host:port/metrics`` (same host and port, same TLS-ness)."""
    parts = urlsplit(gateway_ws_url)
    scheme = "https" if parts.scheme == "wss" else "http"
    return urlunsplit((scheme, parts.netloc, "/metrics", "", ""))


def parse(text: str) -> Scrape:
    wanted = {family: stage for stage, family in STAGE_FAMILIES.items()}
    buckets: dict[str, Buckets] = {}
    counters: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name in wanted:
            buckets[wanted[family.name]] = {
                float(sample.labels["le"]): sample.value for sample in family.samples if sample.name.endswith("_bucket")
            }
        elif family.name in COUNTERS:
            counters[family.name] = sum(sample.value for sample in family.samples if sample.name.endswith("_total"))
    return Scrape(buckets, counters)


def scrape(gateway_ws_url: str, timeout_s: float = 5.0) -> Scrape | None:
    """Read the gateway's metrics; ``None`` where they are not reachable (e.g. a cluster's ingress)."""
    try:
        response = httpx.get(metrics_url(gateway_ws_url), timeout=timeout_s)
        response.raise_for_status()
    except httpx.HTTPError:
        return None
    return parse(response.text)


def histogram_quantile(q: float, buckets: Buckets) -> float | None:
    """The ``q`` quantile (0..1) of cumulative ``buckets``; ``None`` without observations.

    Linear within the bucket that holds the rank; ranks in the ``+Inf`` bucket get the highest
    finite bound, as in PromQL."""
    bounds = sorted(buckets)
    total = buckets[bounds[-1]] if bounds else 0.0
    if total <= 0:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for upper in bounds:
        count = buckets[upper]
        if count >= rank:
            if math.isinf(upper):
                return lower
            return lower + (upper - lower) * (rank - below) / (count - below) if count > below else upper
        lower, below = upper, count
    return lower


@dataclass(frozen=True)
class StageQuantiles:
    turns: int
    p50_ms: float | None
    p95_ms: float | None
    ceiling_ms: float  # the highest finite bucket: a quantile there means "this or more"


def stage_quantiles(delta: Scrape) -> dict[str, StageQuantiles]:
    """p50/p95 in milliseconds of each stage observed during a step."""
    out = {}
    for stage, buckets in delta.buckets.items():
        p50, p95 = histogram_quantile(0.5, buckets), histogram_quantile(0.95, buckets)
        out[stage] = StageQuantiles(
            turns=round(buckets.get(math.inf, 0.0)),
            p50_ms=None if p50 is None else round(p50 * 1000.0, 1),
            p95_ms=None if p95 is None else round(p95 * 1000.0, 1),
            ceiling_ms=round(max(le for le in buckets if not math.isinf(le)) * 1000.0, 1),
        )
    return out
