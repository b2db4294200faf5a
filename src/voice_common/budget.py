"""The latency budget, loaded from ``budget.json`` so that every consumer (gateway metrics,
CLI report, dashboards, load tests) holds the same numbers without retyping them."""

from __future__ import annotations

import json
from enum import StrEnum
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

from pydantic import BaseModel

BUDGET_FILE = Path(str(files("voice_common").joinpath("budget.json")))


class Verdict(StrEnum):
    """Where a measured latency falls against its stage's budget."""

    ON_TARGET = "on target"
    OVER_TARGET = "over target"
    OVER_MAX = "over max"


class StageBudget(BaseModel):
    """One stage's target band and hard maximum, in milliseconds."""

    label: str
    target_min_ms: float
    target_max_ms: float
    max_ms: float

    def verdict(self, measured_ms: float) -> Verdict:
        if measured_ms > self.max_ms:
            return Verdict.OVER_MAX
        if measured_ms > self.target_max_ms:
            return Verdict.OVER_TARGET
        return Verdict.ON_TARGET

    def histogram_buckets_seconds(self) -> list[float]:
        """Prometheus buckets dense around this stage's band, so p50/p95 near the budget are precise."""
        anchors = {
            self.target_min_ms * 0.5,
            self.target_min_ms,
            (self.target_min_ms + self.target_max_ms) / 2,
            self.target_max_ms,
            (self.target_max_ms + self.max_ms) / 2,
            self.max_ms,
            self.max_ms * 1.5,
            self.max_ms * 2,
            self.max_ms * 4,
            self.max_ms * 8,
        }
        return sorted(round(ms / 1000.0, 4) for ms in anchors)


class Budget(BaseModel):
    """All stages of a turn, keyed by stage name (stt, llm_ttft, tts_ttfb, network, mouth_to_ear)."""

    stages: dict[str, StageBudget]

    def __getitem__(self, stage: str) -> StageBudget:
        return self.stages[stage]

    def over_budget(self, measured_ms: dict[str, float | None]) -> list[str]:
        """Names of the stages whose measurement exceeds the stage's hard maximum."""
        return [
            stage
            for stage, value in measured_ms.items()
            if value is not None and stage in self.stages and value > self.stages[stage].max_ms
        ]


@lru_cache(maxsize=1)
def load_budget(path: Path = BUDGET_FILE) -> Budget:
    """Parse the budget file once per process."""
    data = json.loads(Path(path).read_text())
    return Budget(stages=data["stages"])
