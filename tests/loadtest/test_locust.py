"""The Locust file against the real local stack: per-turn events named per budget stage, the run
ending by count (every user made its calls) well before its time bound."""

from __future__ import annotations

import re
import time

import pytest

from loadtest.locust_run import run_locust
from loadtest.step import StepRequest

pytestmark = pytest.mark.slow


def test_locust_callers_fire_mouth_to_ear_per_turn(warm_stack, short_run, speech_file, tmp_path):
    settings = short_run(turns=2)
    started = time.monotonic()

    result = run_locust(settings, StepRequest(warm_stack.gateway_ws, 1, speech_file, 150, tmp_path / "runs"))

    took = time.monotonic() - started
    log = result.log.read_text()
    assert result.exit_code == 0, log
    assert (result.sessions_completed, result.turns, result.errors) == (1, 2, 0), log
    assert result.reply_complete_rate == 1.0
    assert 0 < result.mouth_to_ear_p50_ms <= result.mouth_to_ear_p95_ms < 60_000
    assert took < 150, "the run should end when the user has made its call, not at --run-time"
    assert set(result.stage_p95_ms) == {"mouth_to_ear", "stt", "llm_ttft", "tts_ttfb", "network"}
    # Locust's own printed table names the per-turn events, each counted once per turn
    for name in ("mouth_to_ear", "reply"):
        assert re.search(rf"^turn\s+{name}\s+2\s+0\(0\.00%\)", log, re.MULTILINE), log


def test_locust_run_exits_99_when_the_budget_is_broken(warm_stack, short_run, budget_with, speech_file, tmp_path):
    settings = short_run(budget=budget_with(1))

    result = run_locust(settings, StepRequest(warm_stack.gateway_ws, 1, speech_file, 150, tmp_path / "runs"))

    log = result.log.read_text()
    assert result.exit_code == 99, log
    assert result.turns == 1 and result.errors == 0, log
    assert "over budget: " in log and "mouth_to_ear p95" in log
