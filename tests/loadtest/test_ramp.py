"""The ramp and its report: capacity from given numbers, the gateway's histograms read as deltas,
and one short real ramp against the local stack."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from loadtest import gateway_metrics
from loadtest.gateway_metrics import histogram_quantile, parse
from loadtest.ramp import Step, capacity, concurrency_levels
from loadtest.step import ClientResult
from voice_common.budget import load_budget
from voice_testkit.services import REPO_ROOT

M2E = load_budget()["mouth_to_ear"]  # max 1100 ms


def step(users: int, p95: float, errors: int = 0, complete: float = 1.0) -> Step:
    client = ClientResult(
        sessions_completed=users, turns=users, errors=errors, reply_complete_rate=complete,
        mouth_to_ear_p50_ms=p95 / 2, mouth_to_ear_p95_ms=p95, within_budget=True, exit_code=0, log=Path("x.log"),
    )
    return Step(users, client, seconds=20.0)


def test_concurrency_doubles_up_to_the_limit():
    assert concurrency_levels(1) == [1]
    assert concurrency_levels(4) == [1, 2, 4]
    assert concurrency_levels(6) == [1, 2, 4, 6]


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        ([step(1, 700), step(2, 1000), step(4, 1500)], 2),
        ([step(1, 700), step(2, 1100)], 2),  # at the max still holds
        ([step(1, 1101)], 0),
        ([step(1, 700), step(2, 800, errors=1), step(4, 900)], 1),  # errors break a level whatever the latency
        ([step(1, 700), step(2, 800, complete=0.5)], 1),
        ([step(1, 700), step(2, 1500), step(4, 900)], 1),  # capacity ends at the first level that broke
    ],
)
def test_capacity_is_the_highest_level_before_the_first_break(steps, expected):
    assert capacity(steps, M2E) == expected


def test_a_level_says_why_it_did_not_hold():
    assert step(2, 1500, errors=3).problems(M2E) == ["3 errors", "p95 mouth-to-ear 1500 ms > 1100 ms"]


def exposition(observations: list[float], turns: int) -> str:
    """What the gateway's /metrics would say after these STT latencies (same names and buckets)."""
    registry = CollectorRegistry()
    histogram = Histogram(
        "voice_stt_latency_seconds", "stt", buckets=load_budget()["stt"].histogram_buckets_seconds(), registry=registry
    )
    for seconds in observations:
        histogram.observe(seconds)
    Counter("voice_turns", "turns", registry=registry).inc(turns)
    return generate_latest(registry).decode()


def test_step_quantiles_come_from_the_histogram_delta_only():
    before = parse(exposition([5.0] * 10, turns=10))  # an earlier, very slow step
    after = parse(exposition([5.0] * 10 + [0.2] * 10 + [0.3] * 10, turns=30))

    quantiles = gateway_metrics.stage_quantiles(after - before)["stt"]

    assert quantiles.turns == 20
    assert 100 <= quantiles.p50_ms <= 200  # half the step's turns took 200 ms
    assert 275 <= quantiles.p95_ms <= 350  # in the bucket that holds 300 ms
    assert quantiles.ceiling_ms == 4000.0  # stt's top finite bucket: 8 x its 500 ms max
    assert (after - before).counters["voice_turns"] == 20


def test_histogram_quantile_interpolates_like_promql():
    buckets = {0.1: 0.0, 0.2: 10.0, 0.4: 20.0, float("inf"): 20.0}
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.2)
    assert histogram_quantile(0.75, buckets) == pytest.approx(0.3)
    assert histogram_quantile(0.5, {0.1: 0.0, float("inf"): 0.0}) is None
    assert histogram_quantile(0.99, {0.1: 1.0, float("inf"): 5.0}) == 0.1  # +Inf: the highest finite bound


@pytest.mark.slow
def test_a_short_ramp_reports_capacity_stages_and_a_plot(local_stack, budget_with, tmp_path):
    out = tmp_path / "report"
    argv = [
        sys.executable, "-m", "loadtest", "--url", local_stack.gateway_ws, "--max-users", "2", "--turns", "1",
        "--seconds", "150", "--budget", str(budget_with(60_000)), "--out", str(out),
    ]
    proc = subprocess.run(argv, cwd=REPO_ROOT, check=False, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    data = json.loads((out / "loadtest.json").read_text())
    first = data["steps"][0]
    assert first["users"] == 1 and first["held"], first
    assert [s["users"] for s in data["steps"]] == [1, 2]
    for s in (s for s in data["steps"] if s["held"]):
        assert s["client"]["turns"] == s["users"], s
        assert s["client"]["mouth_to_ear_p95_ms"] > 0
        for stage in ("stt", "llm_ttft", "tts_ttfb", "mouth_to_ear"):
            assert s["gateway"][stage]["turns"] == s["users"], (stage, s["gateway"])
            assert s["gateway"][stage]["p95_ms"] > 0
    # two callers may still fail on a machine others load too (upstream timeouts): then capacity is 1
    second = data["steps"][1]
    if second["held"]:
        assert data["capacity_users"] == 2 and data["capacity_is_lower_bound"]
        assert "Capacity: at least 2 concurrent callers" in (out / "loadtest.md").read_text()
    else:
        assert second["client"]["errors"] > 0, second  # a 60 s budget can only break through errors
        assert data["capacity_users"] == 1 and not data["capacity_is_lower_bound"]
        assert data["stopped_because"].startswith("2 users did not hold")
    report = (out / "loadtest.md").read_text()
    assert data["machine"] in report and "| 2 |" in report
    assert (out / "loadtest.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"capacity: {data['capacity_users']} concurrent callers" in proc.stdout
