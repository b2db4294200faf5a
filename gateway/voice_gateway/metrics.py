"""Prometheus metrics of the gateway: per-stage latency histograms bucketed around the budget.

Dashboards and alert rules in the Helm chart query exactly these names; the chart tests read
them from this registry rather than from a second list.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from voice_common.budget import load_budget

REGISTRY = CollectorRegistry(auto_describe=True)
_BUDGET = load_budget()

# stage name in the budget -> (metric name, what it measures); buckets come from the stage's budget
_STAGE_METRICS = {
    "stt": ("voice_stt_latency_seconds", "STT latency: end of the caller's speech (VAD) to the final transcript."),
    "llm_ttft": ("voice_llm_ttft_seconds", "LLM time to first token, measured by the gateway."),
    "tts_ttfb": ("voice_tts_ttfb_seconds", "TTS time to first audio byte, measured by the gateway."),
    "mouth_to_ear": (
        "voice_mouth_to_ear_seconds",
        "End of the caller's speech to the first bot audio sent to the caller (server side).",
    ),
}
STAGE_HISTOGRAMS: dict[str, Histogram] = {
    stage: Histogram(name, doc, buckets=_BUDGET[stage].histogram_buckets_seconds(), registry=REGISTRY)
    for stage, (name, doc) in _STAGE_METRICS.items()
}

TURNS = Counter("voice_turns_total", "Completed user->bot turns.", registry=REGISTRY)
TURNS_OVER_BUDGET = Counter(
    "voice_turns_over_budget_total",
    "Turns whose stage latency exceeded the stage's budget maximum.",
    ["stage"],
    registry=REGISTRY,
)
# Every stage's series exists from the start at 0, so "share of turns over budget" (dashboard and
# burn-rate alerts) reads 0 on a healthy gateway instead of no data.
for _stage in STAGE_HISTOGRAMS:
    TURNS_OVER_BUDGET.labels(stage=_stage)
SPECULATIONS = Counter(
    "voice_speculative_replies_total",
    "Replies started before the caller's turn was confirmed, by outcome: started, confirmed (kept) "
    "or discarded (the caller went on).",
    ["outcome"],
    registry=REGISTRY,
)
for _outcome in ("started", "confirmed", "discarded"):
    SPECULATIONS.labels(outcome=_outcome)
TURN_VERDICTS = Counter(
    "voice_turn_end_verdicts_total",
    "Smart-turn's verdict at each VAD stop (GATEWAY_SMART_TURN): complete (short confirmation) or incomplete (long).",
    ["verdict"],
    registry=REGISTRY,
)
for _verdict in ("complete", "incomplete"):
    TURN_VERDICTS.labels(verdict=_verdict)
INTERRUPTIONS = Counter("voice_interruptions_total", "Barge-ins: the caller spoke over the bot.", registry=REGISTRY)
ACTIVE_SESSIONS = Gauge("voice_active_sessions", "Caller sessions currently connected.", registry=REGISTRY)
SESSIONS = Counter("voice_sessions_total", "Caller sessions accepted.", registry=REGISTRY)
SESSIONS_REJECTED = Counter(
    "voice_sessions_rejected_total", "Caller sessions refused.", ["reason"], registry=REGISTRY
)
UPSTREAM_ERRORS = Counter(
    "voice_upstream_errors_total",
    "Errors talking to a model server, by service (stt, llm, tts) and error code.",
    ["service", "code"],
    registry=REGISTRY,
)
UPSTREAM_UP = Gauge(
    "voice_gateway_upstream_up",
    "1 if the model server (service: stt, llm, tts) answered the gateway's last poll of its readiness, else 0; "
    "while 0, new calls are refused with <service>_unavailable.",
    ["service"],
    registry=REGISTRY,
)
CLIENT_ERRORS = Counter(
    "voice_client_errors_total", "Malformed input from callers, by error code.", ["code"], registry=REGISTRY
)
