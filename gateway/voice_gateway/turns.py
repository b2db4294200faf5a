"""Per-turn latency accounting against the budget.

A turn runs from the end of the caller's speech to the first bot audio sent back. The
numbers are taken from the frames Pipecat already emits (VAD stop, final transcript, the
LLM's and TTS's TTFB metrics, bot started speaking) so they mean the same thing in the
Prometheus histograms, the per-turn event sent to the caller and the CLI report.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from voice_common.budget import Budget
from voice_gateway import metrics


@dataclass
class TurnTimer:
    """Moments of one turn, in ``time.time()`` seconds, and the stage latencies derived from them."""

    number: int
    speech_end: float  # VAD stop minus its stop_secs: when the caller really went quiet
    vad_stop: float
    transcript_at: float | None = None
    tts_started_at: float | None = None  # the reply's first text handed to the TTS
    llm_ttft_s: float | None = None
    tts_ttfb_s: float | None = None
    llm_context_messages: int | None = None  # grows turn by turn: the conversation context at work
    transcript: str = ""
    interrupted: bool = False
    over_budget: list[str] = field(default_factory=list)
    stages_ms: dict[str, float | None] = field(default_factory=dict)

    def finish(self, first_audio_at: float) -> dict[str, float | None]:
        self.stages_ms = {
            "stt": _ms(self.transcript_at - self.vad_stop) if self.transcript_at else None,
            "llm_ttft": _ms(self.llm_ttft_s),
            # Transcript to first text spoken: the LLM's first token and its writing of the first phrase.
            "llm_first_phrase": _ms(self.tts_started_at - self.transcript_at)
            if self.tts_started_at and self.transcript_at
            else None,
            "tts_ttfb": _ms(self.tts_ttfb_s),
            "mouth_to_ear": _ms(first_audio_at - self.speech_end),
        }
        return self.stages_ms


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000.0, 1)


def record_turn(budget: Budget, stages_ms: dict[str, float | None], exemplar: dict[str, str] | None = None) -> list[str]:
    """Observe the turn in the Prometheus histograms and return the stages over their max.

    ``exemplar``: the turn's trace and span ids (voice_gateway.tracing.turn_trace_ids), kept with
    each stage's bucket so a slow bucket on a dashboard links to this turn's trace.
    """
    metrics.TURNS.inc()
    for stage, histogram in metrics.STAGE_HISTOGRAMS.items():
        if stages_ms.get(stage) is not None:
            histogram.observe(stages_ms[stage] / 1000.0, exemplar or None)
    over = budget.over_budget(stages_ms)
    for stage in over:
        metrics.TURNS_OVER_BUDGET.labels(stage=stage).inc()
    return over
