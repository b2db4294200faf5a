"""Run ``locustfile.py`` headless for one step and read the numbers it prints at the end.

Locust itself is not imported here: it monkey-patches the whole process (gevent) on import, which
the driver and the test process must not be."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from loadtest.settings import REPO_ROOT, LoadtestSettings
from loadtest.step import ClientResult, StepRequest

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
BUDGET_BROKEN_EXIT = 99  # the code k6 uses for crossed thresholds
SUMMARY_MARKER = "LOADTEST_SUMMARY"  # the locustfile prints its numbers after this, as one JSON line


def locust_env(settings: LoadtestSettings) -> dict[str, str]:
    """The settings as ``LOADTEST_*`` variables, which the locustfile reads back into the same class."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    for name, value in settings.model_dump(exclude={"url"}).items():
        env[f"LOADTEST_{name.upper()}"] = str(value)
    return env


def run_locust(settings: LoadtestSettings, request: StepRequest) -> ClientResult:
    request.out_dir.mkdir(parents=True, exist_ok=True)
    log = request.out_dir / f"locust-{request.users}-users.log"
    argv = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--only-summary",
        "--users", str(request.users), "--spawn-rate", str(request.users),
        "--run-time", f"{max(1, round(request.max_seconds))}s", "--stop-timeout", "5", "--host", request.url,
    ]
    with log.open("w") as out:
        proc = subprocess.run(
            argv, check=False, stdout=out, stderr=subprocess.STDOUT, env=locust_env(settings), timeout=request.max_seconds + 60
        )
    lines = [line for line in log.read_text().splitlines() if line.startswith(SUMMARY_MARKER)]
    if proc.returncode not in (0, 1, BUDGET_BROKEN_EXIT) or not lines:
        raise RuntimeError(f"locust failed (exit {proc.returncode}); log: {log}\n{log.read_text()[-3000:]}")
    return parse_summary(json.loads(lines[-1].removeprefix(SUMMARY_MARKER)), proc.returncode, log)


def parse_summary(numbers: dict[str, dict[str, float]], exit_code: int, log: Path) -> ClientResult:
    """The locustfile's ``type/name -> count, failures, p50_ms, p95_ms`` -> the step's client-side result."""

    def field(key: str, name: str) -> float:
        return numbers[key][name] if key in numbers else 0

    m2e = numbers.get("turn/mouth_to_ear")
    turns = int(field("turn/reply", "count"))
    incomplete = int(field("turn/reply", "failures"))
    return ClientResult(
        sessions_completed=int(field("session/call", "count") - field("session/call", "failures")),
        turns=turns,
        errors=int(field("gateway/error", "count") + field("session/call", "failures")),
        reply_complete_rate=(turns - incomplete) / turns if turns else None,
        mouth_to_ear_p50_ms=m2e["p50_ms"] if m2e else None,
        mouth_to_ear_p95_ms=m2e["p95_ms"] if m2e else None,
        within_budget=exit_code == 0,
        exit_code=exit_code,
        log=log,
        stage_p95_ms={
            key.removeprefix("turn/"): v["p95_ms"]
            for key, v in numbers.items()
            if key.startswith("turn/") and key != "turn/reply"
        },
    )
