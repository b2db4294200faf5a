"""``python -m loadtest.soak`` (``make soak``): N callers for M minutes, and what the stack holds before and after.

A leak shows as a number that only grows: memory, open sockets or session gauges of a process
that should be back where it started once its callers are gone. Real callers (the load test's
own generators, speaking real speech at real-time pace) talk in rounds until the time is up;
between rounds, a storm of callers who connect and hang up at once (the cheapest abuse there is)
hits the gateway. At the start (after one warm-up turn) and at the end (after the callers are
gone and a settle period), every local process's RSS, open file descriptors and sockets, and the
session gauges of the gateway and STT server are read and written side by side.

    python -m loadtest.soak --users 2 --minutes 10 --out docs
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import websockets
from pydantic import Field
from pydantic_settings import CliApp

from loadtest.__main__ import ENGINES, gateway
from loadtest.settings import LoadtestSettings
from loadtest.speech import write_speech_pcm
from loadtest.step import StepRequest
from loadtest.warmup import warm_up
from voice_agent.processes import ProcessGroup

GAUGES = {"gateway": "voice_active_sessions", "stt": "stt_active_sessions", "tts": "tts_active_streams"}


class SoakSettings(LoadtestSettings):
    """The load test's settings plus how many callers, for how long, and the storm between rounds."""

    users: int = Field(default=2, ge=1, le=64, description="concurrent callers in every round")
    minutes: float = Field(default=5.0, gt=0, le=120, description="rounds start until this much time has passed")
    storm_callers: int = Field(default=50, ge=0, le=1000, description="connect-and-hang-up callers after each round")
    quiet_s: float = Field(default=5.0, ge=0, description="wait after the last caller before the final reading")


def process_resources(pid: int) -> dict[str, float]:
    """RSS (MiB), open file descriptors and sockets of one process, from /proc."""
    fds = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
    with open(f"/proc/{pid}/statm") as statm:
        rss = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    return {"rss_mib": round(rss, 1), "fds": len(fds), "sockets": sum(fd.startswith("socket:") for fd in fds)}


def gauge(base_url: str, name: str) -> float | None:
    try:
        text = httpx.get(base_url + "/metrics", timeout=10).text
    except httpx.HTTPError:
        return None
    values = [float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " ")]
    return values[0] if values else None


def reading(processes: ProcessGroup | None, gateway_url: str) -> dict:
    """Every local process's resources and every reachable session gauge, now."""
    parts = urlsplit(gateway_url)
    urls = {"gateway": f"http://{parts.netloc}"}
    if processes is not None:
        urls |= {name: proc.spec.base_url for name, proc in processes.running.items() if name in GAUGES}
    return {
        "at": time.strftime("%Y-%m-%d %H:%M:%S"),
        "processes": {
            name: process_resources(proc.process.pid) for name, proc in (processes.running.items() if processes else [])
        },
        "gauges": {name: gauge(url, GAUGES[name]) for name, url in urls.items()},
    }


async def storm(url: str, callers: int, at_once: int = 10) -> int:
    """Callers who connect and hang up at once; returns how many were refused or failed."""
    slots, failed = asyncio.Semaphore(at_once), 0

    async def hang_up(index: int) -> None:
        nonlocal failed
        async with slots:
            try:
                async with websockets.connect(url, open_timeout=10) as ws:
                    if index % 2 and '"error"' in await asyncio.wait_for(ws.recv(), 10):
                        failed += 1
            except (OSError, TimeoutError, websockets.WebSocketException):
                failed += 1

    await asyncio.gather(*(hang_up(index) for index in range(callers)))
    return failed


def write_soak_report(out: Path, result: dict) -> None:
    start, end = result["start"], result["end"]
    rows = [
        f"| {name} | {start['processes'][name]['rss_mib']} → {end['processes'][name]['rss_mib']} "
        f"| {start['processes'][name]['fds']} → {end['processes'][name]['fds']} "
        f"| {start['processes'][name]['sockets']} → {end['processes'][name]['sockets']} "
        f"| {start['gauges'].get(name, '')} → {end['gauges'].get(name, '')} |"
        for name in start["processes"]
    ]
    lines = [
        "# Soak result",
        "",
        (f"{result['users']} callers in rounds for {result['minutes']:g} min against {result['target']}, "
         f"{result['storm_callers']} connect-and-hang-up callers after each round ({result['engine']})."),
        (f"Rounds: {result['rounds']}, turns: {result['turns']}, caller errors: {result['errors']}, "
         f"storm callers refused or failed: {result['storm_failed']} of {result['storm_total']}."),
        "",
        "| process | RSS MiB (start → end) | open fds | sockets | session gauge |",
        "|---|---|---|---|---|",
        *rows,
        "",
        f"Start: {start['at']} (after one warm-up turn); end: {end['at']} (after {result['quiet_s']:g} s with no callers).",
    ]
    out.mkdir(parents=True, exist_ok=True)
    (out / "soak.md").write_text("\n".join(lines) + "\n")
    (out / "soak.json").write_text(json.dumps(result, indent=2) + "\n")


def main() -> None:
    settings = CliApp.run(SoakSettings)
    speech = write_speech_pcm(settings.speech, settings.out / "runs" / "speech.pcm")
    run_step = ENGINES[settings.engine]
    with gateway(settings) as (url, target, processes):
        print(f"warm-up turn: mouth-to-ear {warm_up(url, settings.speech, settings.turn_timeout_s)} ms", flush=True)
        start = reading(processes, url)
        deadline = time.monotonic() + settings.minutes * 60
        rounds = turns = errors = storm_failed = 0
        while time.monotonic() < deadline:
            left = max(deadline - time.monotonic(), 30.0)
            result = run_step(settings, StepRequest(url, settings.users, speech, left, settings.out / "runs"))
            storm_failed += asyncio.run(storm(url, settings.storm_callers))
            rounds, turns, errors = rounds + 1, turns + result.turns, errors + result.errors
            print(
                f"round {rounds}: {result.turns} turns, {result.errors} errors, "
                f"p50 mouth-to-ear {result.mouth_to_ear_p50_ms} ms",
                flush=True,
            )
        time.sleep(settings.quiet_s)
        end = reading(processes, url)
    write_soak_report(
        settings.out,
        {
            "users": settings.users, "minutes": settings.minutes, "engine": settings.engine, "target": target,
            "storm_callers": settings.storm_callers, "quiet_s": settings.quiet_s, "rounds": rounds, "turns": turns,
            "errors": errors, "storm_failed": storm_failed, "storm_total": rounds * settings.storm_callers,
            "start": start, "end": end,
        },
    )
    print((settings.out / "soak.md").read_text())


if __name__ == "__main__":
    main()
