"""What one load step measured on the client side, whichever generator (k6 or Locust) ran it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class StepRequest:
    """One bounded run: this many concurrent callers, each making ``settings.sessions`` calls."""

    url: str
    users: int
    speech_pcm: Path  # the utterance as streamed (see loadtest.speech)
    max_seconds: float  # hard bound on this run's duration
    out_dir: Path  # logs and raw results of the run go here


@dataclass(frozen=True)
class ClientResult:
    """Per-turn measurements from the callers' side, summarized."""

    sessions_completed: int
    turns: int
    errors: int
    reply_complete_rate: float | None
    mouth_to_ear_p50_ms: float | None
    mouth_to_ear_p95_ms: float | None
    within_budget: bool  # the generator's own verdict: every stage's p95 within its max, no errors
    exit_code: int
    log: Path
    stage_p95_ms: dict[str, float] = field(default_factory=dict)  # client-side view of each budget stage
