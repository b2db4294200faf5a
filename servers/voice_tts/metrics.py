"""Prometheus metrics of the TTS server (own registry, served at /metrics)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

TTFB = Histogram(
    "tts_ttfb_seconds",
    "Request received to first audio byte sent.",
    ["endpoint"],
    buckets=(0.025, 0.05, 0.075, 0.1, 0.125, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 2.0, 5.0),
    registry=REGISTRY,
)
REAL_TIME_FACTOR = Histogram(
    "tts_real_time_factor",
    "Synthesis time divided by audio duration, per chunk (below 1 is faster than real time).",
    buckets=(0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0),
    registry=REGISTRY,
)
PHONEMES_PER_CALL = Histogram(
    "tts_phonemes_per_call",
    "Phonemes given to one model call (bounded by TTS_MAX_PHONEMES_PER_CALL).",
    buckets=(16, 32, 64, 128, 192, 256, 384, 510),
    registry=REGISTRY,
)
MODEL_CALLS = Counter(
    "tts_model_calls_total",
    "Model calls, by the CPU threads each ran on (fewer when it started while another call ran).",
    ["threads"],
    registry=REGISTRY,
)
AUDIO_SECONDS = Counter("tts_audio_seconds_total", "Seconds of audio synthesized.", registry=REGISTRY)
QUEUE_DEPTH = Gauge("tts_queue_depth", "Chunks waiting for a synthesis slot.", registry=REGISTRY)
ACTIVE_STREAMS = Gauge("tts_active_streams", "Responses and WebSocket syntheses streaming now.", registry=REGISTRY)
ACTIVE_SESSIONS = Gauge("tts_active_sessions", "Open /ws sessions.", registry=REGISTRY)
CANCELLATIONS = Counter("tts_cancellations_total", "Syntheses stopped by a client's cancel (barge-in).", registry=REGISTRY)
ERRORS = Counter("tts_errors_total", "Errors reported to clients, by code.", ["code"], registry=REGISTRY)
