"""Prometheus metrics of the STT server, in their own registry (``GET /metrics``).

Latency buckets come from the latency budget's STT stage, so p50/p95 around the budget are precise.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from voice_common.budget import load_budget

REGISTRY = CollectorRegistry(auto_describe=True)

REQUEST_LATENCY = Histogram(
    "stt_request_latency_seconds",
    "Time to a transcript: flush -> final (listen), frame -> reply (ws), request -> response (transcriptions).",
    ["endpoint"],
    buckets=load_budget()["stt"].histogram_buckets_seconds(),
    registry=REGISTRY,
)
AUDIO_SECONDS = Counter(
    "stt_audio_seconds",
    "Seconds of audio transcribed (partials re-decode their segment and count again).",
    registry=REGISTRY,
)
REAL_TIME_FACTOR = Histogram(
    "stt_real_time_factor",
    "Decode time / audio duration of each decode (below 1 = faster than real time).",
    buckets=(0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0),
    registry=REGISTRY,
)
ACTIVE_SESSIONS = Gauge("stt_active_sessions", "Open /v1/listen and /ws sessions.", registry=REGISTRY)
ERRORS = Counter("stt_errors", "Errors reported to clients, by stable error code.", ["code"], registry=REGISTRY)
DECODES_RUNNING = Gauge(
    "stt_decodes_running", "Decode slots held, by priority (live turns, uploads).", ["priority"], registry=REGISTRY
)
DECODES_WAITING = Gauge(
    "stt_decodes_waiting", "Decodes waiting for a slot, by priority (live turns, uploads).", ["priority"], registry=REGISTRY
)
