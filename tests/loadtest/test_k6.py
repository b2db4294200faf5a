"""The k6 script against the real local stack: callers finish their turns, numbers come out, and a
budget the stack cannot meet makes k6 fail the run."""

from __future__ import annotations

import re

import pytest

from loadtest import gateway_metrics
from loadtest.k6_run import THRESHOLDS_CROSSED, run_k6
from loadtest.step import StepRequest

pytestmark = pytest.mark.slow


def summary_line(log: str, metric: str) -> str:
    match = re.search(rf"^\s*{metric}\.*:.*$", log, re.MULTILINE)
    assert match, f"{metric} missing from k6's summary:\n{log}"
    return match.group(0)


def test_k6_callers_finish_their_turns_and_report_mouth_to_ear(warm_stack, short_run, speech_file, tmp_path):
    settings = short_run(turns=2)
    before = gateway_metrics.scrape(warm_stack.gateway_ws)

    result = run_k6(settings, StepRequest(warm_stack.gateway_ws, 1, speech_file, 120, tmp_path / "runs"))

    after = gateway_metrics.scrape(warm_stack.gateway_ws)
    log = result.log.read_text()
    assert result.exit_code == 0, log
    assert result.within_budget
    assert (result.sessions_completed, result.turns, result.errors) == (1, 2, 0), log
    assert result.reply_complete_rate == 1.0
    assert 0 < result.mouth_to_ear_p50_ms <= result.mouth_to_ear_p95_ms < 60_000
    assert set(result.stage_p95_ms) >= {"stt", "llm_ttft", "tts_ttfb", "network", "mouth_to_ear"}
    # k6's own printed summary carries the same numbers, and the gateway saw both turns
    assert re.search(r"count=2\b", summary_line(log, "mouth_to_ear_ms")), log
    assert "sessions_completed" in log and "reply_complete" in log
    assert (after - before).counters["voice_turns"] == 2


def test_a_budget_the_stack_cannot_meet_fails_the_k6_run(warm_stack, short_run, budget_with, speech_file, tmp_path):
    settings = short_run(budget=budget_with(1))

    result = run_k6(settings, StepRequest(warm_stack.gateway_ws, 1, speech_file, 120, tmp_path / "runs"))

    log = result.log.read_text()
    assert result.exit_code == THRESHOLDS_CROSSED, log
    assert not result.within_budget
    assert result.turns == 1 and result.errors == 0, log  # the run itself went fine: only the budget broke
    assert re.search(r"thresholds on metrics .*mouth_to_ear_ms.* have been crossed", log, re.IGNORECASE | re.DOTALL), log

