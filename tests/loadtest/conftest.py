"""Fixtures for the load tests: budget files that a run is sure to meet or sure to break."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from loadtest.settings import LoadtestSettings
from voice_common.budget import BUDGET_FILE


@pytest.fixture
def budget_with(tmp_path: Path) -> Callable[[float], Path]:
    """``budget_with(ms)``: a copy of the budget file with every stage's max set to ``ms``."""

    def write(max_ms: float) -> Path:
        data = json.loads(BUDGET_FILE.read_text())
        for stage in data["stages"].values():
            stage["max_ms"] = max_ms
        path = tmp_path / f"budget-{max_ms:g}.json"
        path.write_text(json.dumps(data))
        return path

    return write


@pytest.fixture(scope="session")
def warm_stack(local_stack):
    """The local stack after one unmeasured turn (as ``python -m loadtest`` does before its ramp)."""
    from loadtest.warmup import warm_up

    warm_up(local_stack.gateway_ws, LoadtestSettings().speech, 60.0)
    return local_stack


@pytest.fixture
def short_run(tmp_path: Path, budget_with) -> Callable[..., LoadtestSettings]:
    """Settings for a few seconds of load: one call of one turn per user, a budget any reply meets."""

    def settings(**overrides) -> LoadtestSettings:
        values = {"turns": 1, "sessions": 1, "turn_timeout_s": 45.0, "budget": budget_with(60_000), "out": tmp_path / "out"}
        return LoadtestSettings(**{**values, **overrides})

    return settings


@pytest.fixture
def speech_file(tmp_path: Path) -> Path:
    from loadtest.speech import write_speech_pcm

    return write_speech_pcm(LoadtestSettings().speech, tmp_path / "speech.pcm")
