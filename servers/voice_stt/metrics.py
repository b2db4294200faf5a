"""Prometheus metrics of the STT server (own registry, served at /metrics)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

REQUEST_LATENCY = Histogram(
    "stt_request_latency_seconds",
    "Time to produce a transcript once it was asked for (flush, utterance or HTTP request).",
    ["endpoint"],
    buckets=(0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0),
    registry=REGISTRY,
)
AUDIO_SECONDS = Counter("stt_audio_seconds_total", "Seconds of audio transcribed.", registry=REGISTRY)
REAL_TIME_FACTOR = Histogram(
    "stt_real_time_factor",
    "Decode time divided by audio duration (below 1 is faster than real time).",
    buckets=(0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0),
    registry=REGISTRY,
)
ACTIVE_SESSIONS = Gauge("stt_active_sessions", "Open streaming sessions (/v1/listen and /ws).", registry=REGISTRY)
QUEUE_DEPTH = Gauge("stt_queue_depth", "Transcriptions waiting for a decoder slot.", registry=REGISTRY)
ERRORS = Counter("stt_errors_total", "Errors reported to clients, by code.", ["code"], registry=REGISTRY)
