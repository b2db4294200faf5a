"""The chart's Grafana dashboards, queried on a real Prometheus that scraped the real local stack.

Spoken turns go through the gateway (after refused calls, calls to a gateway whose STT is down and
bad requests to each model server), then every PromQL expression of both dashboards runs through
Prometheus' HTTP API with the dashboards' template variables filled in the way Grafana fills
them. A panel that stays empty fails, except those fed by exporters that cannot run on this
machine (``UNFILLABLE_HERE``, each with its reason; also listed in docs/observability.md).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass

import httpx
import pytest
import websockets

import chart_dashboards  # the generator, from scripts/ (on pytest's pythonpath)
from prometheus_support import SCRAPE_S, Prometheus, has_data
from voice_agent.client import Caller
from voice_agent.observe import ScrapeTarget, stack_targets
from voice_gateway import metrics as gateway_metrics
from voice_testkit.services import start_service

pytestmark = [pytest.mark.slow, pytest.mark.observe]

DASHBOARDS = {p.name: json.loads(p.read_text()) for p in sorted(chart_dashboards.OUT_DIR.glob("*.json"))}
# Series prefixes of exporters that do not run here, and why; a panel querying them may stay empty.
UNFILLABLE_HERE = {
    "vllm:": "vLLM serves the LLM only on GPU nodes; the local stack's CPU LLM is llama.cpp (its llamacpp:* series fill)",
    "DCGM_": "NVIDIA's DCGM exporter needs an NVIDIA GPU, its driver and DCGM",
    "kube_": "kube-state-metrics reads a Kubernetes API (Deployments, HPAs, pod restarts)",
    "container_": "cAdvisor runs inside the kubelet of a Kubernetes node",
}
# Outside exporters that do run here: their panels must fill like our own servers'.
FILLED_HERE = {
    "llamacpp:": "the local stack's CPU LLM is llama.cpp's own server (python -m voice_llm), scraped on /metrics",
}
QUESTIONS = ("What is the capital of France?", "And what is the capital of Italy?")
# What the fixture's faults count, and which dashboard panels must show them.
ERROR_SERIES = (
    "voice_sessions_rejected_total",
    "voice_upstream_errors_total",
    "voice_client_errors_total",
    "stt_errors_total",
    "tts_errors_total",
)
# Grafana: $__rate_interval = max($__interval + scrape interval, 4 * scrape interval), with the
# data source's scrape interval set to this Prometheus' (1 s) and a step of 2 s.
STEP_S = 2 * SCRAPE_S
RATE_INTERVAL_S = max(STEP_S + SCRAPE_S, 4 * SCRAPE_S)


@dataclass
class Observed:
    prometheus: Prometheus
    gateway_pod: str
    start: float
    before: float
    end: float
    turns: list[dict]  # the turn_metrics events the caller received


def panels(board: dict):
    for panel in board["panels"]:
        yield panel
        yield from panel.get("panels", [])


def unfillable_reason(expr: str) -> str | None:
    series = re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", re.sub(r'"[^"]*"', "", expr))
    reasons = {reason for name in series for prefix, reason in UNFILLABLE_HERE.items() if name.startswith(prefix)}
    return "; ".join(sorted(reasons)) or None


def variable_values(prometheus: Prometheus, board: dict) -> dict[str, str]:
    """Each query variable as Grafana's "All" fills it in a regex matcher: its values joined by |."""
    values = {}
    for variable in board["templating"]["list"]:
        if variable["type"] != "query":
            continue
        match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", variable["definition"])
        assert match, f"${variable['name']}: only label_values(series, label) is understood here"
        found = prometheus.label_values(match.group(2), match.group(1))
        assert found, f"${variable['name']} ({variable['definition']}) has no values: every panel would be empty"
        values[variable["name"]] = "|".join(re.escape(v) for v in found)
    return values


def grafana_expr(expr: str, variables: dict[str, str]) -> str:
    expr = expr.replace("$__rate_interval", f"{RATE_INTERVAL_S:g}s").replace("$__interval", f"{STEP_S:g}s")
    for name, value in variables.items():
        expr = expr.replace("${" + name + "}", value).replace("$" + name, value)
    assert "$" not in expr, f"a template variable this test does not fill: {expr}"
    return expr


@pytest.fixture(scope="module")
def observed(local_stack, prometheus_for, speech) -> Observed:
    # A gateway whose STT URL has a path the (real, ready) STT server does not serve: admitted, since the
    # server's /ready answers, and refused the stream at the caller's first speech (an upstream error).
    # With the STT server gone instead, the gateway would refuse the call itself (stt_unavailable at connect).
    stt_misrouted = start_service("gateway", "voice_gateway", {
        "GATEWAY_STT_URL": f"ws://127.0.0.1:{local_stack.ports.stt}/v1/no-such-stream",
        "GATEWAY_TTS_URL": f"ws://127.0.0.1:{local_stack.ports.tts}/ws",
        "GATEWAY_LLM_BASE_URL": local_stack.llm_base_url,
    }, ready_path="/health")
    try:
        start = time.time()
        misrouted = ScrapeTarget("gateway", stt_misrouted.spec.port, pod="gateway-stt-misrouted")
        targets = [*stack_targets(local_stack.ports), misrouted]
        prometheus = prometheus_for(targets)
        before = time.time()
        turns = asyncio.run(_traffic(local_stack, stt_misrouted, speech))
        time.sleep(RATE_INTERVAL_S + STEP_S)  # the last turn inside a rate window at a query step
        return Observed(prometheus, f"gateway-{local_stack.ports.gateway}", start, before, time.time(), turns)
    finally:
        stt_misrouted.stop()


async def _faults(local_stack, stt_misrouted, speech) -> None:
    """One of each error the dashboards split out: a refused call, a malformed client frame, an upstream error, a bad
    request to each server."""
    async with websockets.connect(local_stack.gateway_ws + "?format=mp3") as refused:  # voice_sessions_rejected_total
        assert json.loads(await refused.recv())["code"] == "unknown_format"
    async with websockets.connect(local_stack.gateway_ws) as caller:  # voice_client_errors_total{code="invalid_json"}
        await caller.send("hello?")  # text frames are JSON control messages
        while (event := json.loads(await caller.recv()))["type"] != "error":
            pass
        assert event["code"] == "invalid_json", event
    async with Caller(f"ws://127.0.0.1:{stt_misrouted.spec.port}/ws") as call:  # voice_upstream_errors_total{service="stt"}
        await call.silence(0.3)
        talking = asyncio.create_task(call.stream(speech("Is anybody there?") + bytes(32000)))
        assert await call.wait_for(lambda: call.conversation.errors, 15), call.conversation.events
        talking.cancel()
        await asyncio.gather(talking, return_exceptions=True)
    async with httpx.AsyncClient(timeout=30) as http:  # stt_errors_total, tts_errors_total
        assert (await http.post(local_stack.stt_http + "/v1/audio/transcriptions")).status_code == 400
        assert (await http.post(local_stack.tts_http + "/v1/audio/speech", json={})).status_code in (400, 422)


async def _traffic(local_stack, stt_misrouted, speech) -> list[dict]:
    # Errors first, twice, a scrape apart: a labelled counter is born at its first error, and rate()
    # needs the series' earlier sample to see an increase (Prometheus 2.x has no zero sample for it).
    for _ in range(2):
        await _faults(local_stack, stt_misrouted, speech)
        await asyncio.sleep(1.5 * SCRAPE_S)
    turns: list[dict] = []
    async with Caller(local_stack.gateway_ws) as call:
        await call.silence(0.3)
        for question in QUESTIONS:
            turn = await call.say_and_listen(speech(question), timeout=90)
            assert turn.server, f"no turn_metrics for {question!r}: {call.conversation.events}"
            turns.append(turn.server)
    assert not call.conversation.errors, call.conversation.errors
    return turns


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_every_panel_of_the_dashboard_fills_from_the_local_stack(observed, name):
    board = DASHBOARDS[name]
    variables = variable_values(observed.prometheus, board)
    empty, unfillable, checked = [], [], 0
    for panel in panels(board):
        for target in panel.get("targets", []):
            if reason := unfillable_reason(target["expr"]):
                unfillable.append(f"{panel['title']} [{target['refId']}]: {reason}")
                continue
            expr = grafana_expr(target["expr"], variables)
            checked += 1
            if not has_data(observed.prometheus.range(expr, observed.start, observed.end, STEP_S)):
                empty.append(f"{panel['title']} [{target['refId']}]: {expr}")
    assert checked, "no query was checked"
    assert not empty, "panels with no data after real turns:\n" + "\n".join(empty)
    print(f"\n{name}: {checked} queries returned data; not fillable here:\n  " + "\n  ".join(unfillable))


def test_the_error_panels_show_the_errors_that_happened(observed):
    """Not just a flat 0: each refusal/error panel rises above 0 at the errors the fixture caused."""
    seen = set()
    for name, board in DASHBOARDS.items():
        variables = variable_values(observed.prometheus, board)
        for panel in panels(board):
            for target in panel.get("targets", []):
                series = next((s for s in ERROR_SERIES if s in target["expr"]), None)
                if series is None:
                    continue
                result = observed.prometheus.range(grafana_expr(target["expr"], variables), observed.start, observed.end, STEP_S)
                peak = max((float(v) for s in result for _, v in s["values"] if v != "NaN"), default=0.0)
                assert peak > 0, f"{name}: {panel['title']} never rose above 0 ({series})"
                seen.add(series)
    assert seen == set(ERROR_SERIES), f"no panel queries {set(ERROR_SERIES) - seen}"


def test_prometheus_holds_exactly_the_turns_the_caller_had(observed):
    """The panels show these callers' turns: counts and sums of every stage match the turn_metrics events."""
    p, pod = observed.prometheus, observed.gateway_pod

    def delta(series: str) -> float:
        selector = f'{series}{{pod="{pod}"}}'
        return p.value(selector, observed.end) - p.value(selector, observed.before)

    assert delta("voice_turns_total") == len(observed.turns)
    for stage, histogram in gateway_metrics.STAGE_HISTOGRAMS.items():
        name = histogram.describe()[0].name
        measured = [turn[f"{stage}_ms"] for turn in observed.turns]
        assert delta(f"{name}_count") == len(measured), stage
        assert delta(f"{name}_sum") == pytest.approx(sum(measured) / 1000, abs=1e-3), stage


def test_the_charts_alert_rules_evaluate_on_the_real_series(observed):
    """The PrometheusRule's rules, with the local names where a release's go, find the gateway's real
    series: promtool's unit tests use made-up series, so a renamed metric or label would pass there."""
    p, gateway = observed.prometheus, 'namespace="local", job="gateway"'
    rules = p.rules()
    assert {r["name"] for r in rules if r["type"] == "alerting"} >= {"VoiceTurnsOverBudget", "VoiceUpstreamErrors"}
    assert not [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"]
    over = p.instant(f"namespace_job:voice_turns_over_budget:ratio_rate5m{{{gateway}}}", observed.end)
    assert {s["metric"]["stage"] for s in over} == set(gateway_metrics.STAGE_HISTOGRAMS), over
    assert has_data(over), "the share of turns over budget is a number after real turns"
    errors = p.instant(f'namespace_job:voice_upstream_errors:ratio_rate5m{{{gateway}, service="stt"}}', observed.end)
    assert errors and float(errors[0]["value"][1]) > 0, errors
    assert not p.instant('ALERTS{alertname=~"VoiceModelServer.*"}', observed.end), "STT, TTS and the LLM answered every scrape"


def test_every_outside_exporter_the_dashboards_query_has_a_reason_to_be_empty_here():
    """A new vLLM/DCGM/Kubernetes series in the dashboards needs its reason in UNFILLABLE_HERE, unless
    its exporter runs in the local stack (FILLED_HERE: llama.cpp), where its panels must fill."""
    assert not set(FILLED_HERE) & set(UNFILLABLE_HERE)
    for metric in chart_dashboards.EXTERNAL_METRICS:
        assert metric.startswith((*UNFILLABLE_HERE, *FILLED_HERE)), f"{metric}: why can it not fill on the local stack?"
