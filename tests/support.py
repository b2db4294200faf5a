"""Helpers shared by the test modules (importable: pytest puts tests/ on sys.path)."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import time
from functools import lru_cache
from pathlib import Path

import httpx

from voice_agent.processes import ServiceProcess, ServiceSpec, python_module, start_ready

REPO_ROOT = Path(__file__).resolve().parents[1]
MODELS_DIR = Path(os.environ.get("VOICE_MODELS_DIR", REPO_ROOT / "models"))
LOG_DIR = REPO_ROOT / ".cache" / "test-logs"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_service(
    name: str, module: str, env: dict[str, str], ready_timeout_s: float = 180.0, ready_path: str = "/ready"
) -> ServiceProcess:
    """Launch ``python -m module`` with ``env`` on a free port and wait until ``ready_path`` answers 200."""
    port = free_port()
    prefix = name.upper()
    spec = ServiceSpec(
        name=f"{name}-{port}",
        argv=python_module(module),
        port=port,
        ready_path=ready_path,
        env={f"{prefix}_HOST": "127.0.0.1", f"{prefix}_PORT": str(port), "VOICE_MODELS_DIR": str(MODELS_DIR), **env},
    )
    return start_ready(spec, LOG_DIR, ready_timeout_s)


@lru_cache(maxsize=32)
def _kokoro():
    from kokoro_onnx import Kokoro

    return Kokoro(str(MODELS_DIR / "kokoro" / "kokoro-v1.0.int8.onnx"), str(MODELS_DIR / "kokoro" / "voices-v1.0.bin"))


@lru_cache(maxsize=64)
def spoken(text: str, sample_rate: int = 16000, voice: str = "am_michael") -> bytes:
    """``text`` spoken by Kokoro (a different voice from the bot's), as s16le mono PCM at ``sample_rate``."""
    from voice_common.audio import float32_to_pcm16, resample

    samples, rate = _kokoro().create(text, voice=voice, speed=1.0, lang="en-us")
    return float32_to_pcm16(resample(samples, rate, sample_rate))


async def health_times_while(client: httpx.AsyncClient, work: asyncio.Future, interval_s: float = 0.05) -> list[float]:
    """Response times of ``/health`` polled until ``work`` is done: a server whose model work
    blocked its event loop would answer late."""
    times = []
    while not work.done():
        started = time.perf_counter()
        assert (await client.get("/health")).status_code == 200
        times.append(time.perf_counter() - started)
        await asyncio.sleep(interval_s)
    return times


async def async_get(url: str) -> httpx.Response:
    """``httpx.get(url)`` for async tests: the same defaults, without blocking the event loop the
    test's callers run on."""
    async with httpx.AsyncClient() as client:
        return await client.get(url)


async def metric_by_label(base_url: str, name: str, label: str, values: tuple[str, ...]) -> dict[str, float]:
    """``name{label="v"}`` for each ``v``, read from the server's ``/metrics`` without blocking the loop."""
    text = (await async_get(base_url + "/metrics")).text
    return {value: metric_value(text, f'{name}{{{label}="{value}"}}') for value in values}


def metric_value(metrics_text: str, name: str) -> float:
    """The value of an unlabelled sample (``name value``) in Prometheus text."""
    match = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", metrics_text, re.MULTILINE)
    assert match, f"{name} not exported"
    return float(match.group(1))


def established_connections_to(port: int) -> int:
    """Open TCP connections on this machine whose remote end is ``port`` (from /proc/net/tcp*)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            for row in list(rows)[1:]:
                fields = row.split()
                if fields[3] == "01" and int(fields[2].rsplit(":", 1)[1], 16) == port:  # 01 = ESTABLISHED
                    count += 1
    return count
