"""The load test report: ``loadtest.json`` (everything), ``loadtest.md`` (for people and docs/) and
``loadtest.png`` (latency against concurrency, with the budget's max)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers or in CI
import matplotlib.pyplot as plt

from loadtest.ramp import Ramp, capacity
from loadtest.settings import LoadtestSettings
from voice_common.budget import Budget
from voice_testkit.machine import machine_description

GATEWAY_STAGES = ("stt", "llm_ttft", "tts_ttfb", "mouth_to_ear")


def report_data(ramp: Ramp, budget: Budget, settings: LoadtestSettings, target: str) -> dict:
    mouth_to_ear = budget["mouth_to_ear"]
    steps = []
    for step in ramp.steps:
        client = asdict(step.client)
        client["log"] = os.path.relpath(step.client.log, settings.out)
        steps.append(
            {
                "users": step.users,
                "seconds": step.seconds,
                "held": step.held(mouth_to_ear),
                "client": client,
                "gateway": {stage: asdict(q) for stage, q in step.gateway.items()},
                "gateway_counters": step.gateway_counters,
            }
        )
    held = capacity(ramp.steps, mouth_to_ear)
    return {
        "machine": machine_description(),
        "load_average_at_start": round(ramp.load_average, 2),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "target": target,
        "engine": settings.engine,
        "speech": settings.speech.name,
        "max_users": settings.max_users,
        "ramp_seconds": settings.seconds,
        "calls_per_user": settings.sessions,
        "turns_per_call": settings.turns,
        "budget_max_ms": {stage: b.max_ms for stage, b in budget.stages.items()},
        "capacity_users": held,
        "capacity_is_lower_bound": bool(ramp.steps) and ramp.steps[-1].held(mouth_to_ear),
        "stopped_because": ramp.stopped_because,
        "steps": steps,
    }


def ms_text(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}"


def _pair(p50: float | None, p95: float | None, ceiling: float | None = None) -> str:
    """``p50 / p95``; a value in the histogram's top bucket reads "≥" (the histogram cannot say more)."""

    def shown(value: float | None) -> str:
        at_ceiling = ceiling is not None and value is not None and value >= ceiling
        return ("≥" if at_ceiling else "") + ms_text(value)

    return f"{shown(p50)} / {shown(p95)}"


def markdown(data: dict, plot_name: str) -> str:
    m2e_max = data["budget_max_ms"]["mouth_to_ear"]
    bound = "at least " if data["capacity_is_lower_bound"] else ""
    lines = [
        "# Load test report",
        "",
        f"- Machine: {data['machine']}; 1-minute load average when the ramp began: {data['load_average_at_start']}",
        f"- Target: {data['target']}; generator: {data['engine']}; {data['date']}",
        (f"- Ramp: 1, 2, 4, ... up to {data['max_users']} concurrent callers within {data['ramp_seconds']:.0f} s, made by "
         "`python -m loadtest` (`make loadtest`), one unmeasured warm-up turn first"),
        (f"- Each caller: {data['calls_per_user']} call(s) of {data['turns_per_call']} turn(s) of `{data['speech']}`, "
         "streamed at real-time pace, waiting for the whole spoken reply"),
        "",
        (f"**Capacity: {bound}{data['capacity_users']} concurrent callers** with every reply complete, no errors and "
         f"p95 mouth-to-ear (client side) within the budget's {m2e_max:.0f} ms. Ramp stopped: {data['stopped_because']}."),
        "",
        ("Client: mouth-to-ear measured by the callers (last speech frame played out → first reply audio byte). "
         "Gateway: p50 / p95 from its Prometheus histograms over the step (ms; bucket-interpolated)."),
        "",
        ("| users | s | calls done | turns | errors | replies complete | client mouth-to-ear p50 / p95 "
         "| gateway STT | gateway LLM TTFT | gateway TTS TTFB | gateway mouth-to-ear | held |"),
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for step in data["steps"]:
        client, gateway = step["client"], step["gateway"]
        rate = client["reply_complete_rate"]
        stage_cells = [
            _pair(gateway[s]["p50_ms"], gateway[s]["p95_ms"], gateway[s]["ceiling_ms"]) if s in gateway else "n/a"
            for s in GATEWAY_STAGES
        ]
        lines.append(
            f"| {step['users']} | {step['seconds']:.0f} | {client['sessions_completed']} | {client['turns']} "
            f"| {client['errors']} | {'n/a' if rate is None else f'{rate * 100:.0f}%'} "
            f"| {_pair(client['mouth_to_ear_p50_ms'], client['mouth_to_ear_p95_ms'])} | "
            + " | ".join(stage_cells)
            + f" | {'yes' if step['held'] else 'no'} |"
        )
    lines += ["", f"![latency against concurrency]({plot_name})", ""]
    return "\n".join(lines)


def plot(data: dict, path: Path) -> None:
    steps = data["steps"]
    users = [s["users"] for s in steps]
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    series = {
        "client mouth-to-ear p95": [s["client"]["mouth_to_ear_p95_ms"] for s in steps],
        "client mouth-to-ear p50": [s["client"]["mouth_to_ear_p50_ms"] for s in steps],
    }
    for stage in GATEWAY_STAGES[:3]:
        series[f"gateway {stage} p95"] = [s["gateway"].get(stage, {}).get("p95_ms") for s in steps]
    for label, values in series.items():
        points = [(u, v) for u, v in zip(users, values, strict=True) if v is not None]
        if points:
            style = "-o" if label.startswith("client") else "--."
            ax.plot(*zip(*points, strict=True), style, label=label)
    ax.axhline(data["budget_max_ms"]["mouth_to_ear"], color="red", linewidth=1, label="mouth-to-ear budget max")
    ax.set_xlabel("concurrent callers")
    ax.set_ylabel("latency (ms)")
    ax.set_xticks(users)
    ax.set_title(f"Latency against concurrency (capacity: {data['capacity_users']})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_report(ramp: Ramp, budget: Budget, settings: LoadtestSettings, target: str) -> dict:
    """Write loadtest.json/.md/.png into ``settings.out`` and return the data."""
    settings.out.mkdir(parents=True, exist_ok=True)
    data = report_data(ramp, budget, settings, target)
    (settings.out / "loadtest.json").write_text(json.dumps(data, indent=2) + "\n")
    plot(data, settings.out / "loadtest.png")
    (settings.out / "loadtest.md").write_text(markdown(data, "loadtest.png"))
    return data
