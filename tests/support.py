"""Helpers shared by the test modules (importable: pytest puts tests/ on sys.path)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable

import httpx


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


def _answers_200(ready: httpx.Response) -> bool:
    return ready.status_code == 200


async def ready_within(
    base_url: str, timeout_s: float, until: Callable[[httpx.Response], bool] = _answers_200
) -> httpx.Response:
    """Poll ``/ready`` until its answer satisfies ``until`` (by default: 200) or ``timeout_s``
    passes; the last answer either way. A gateway reports ready only after its LLM warm-up, which
    a loaded machine can delay by seconds after ``/health`` first answers."""
    deadline = time.monotonic() + timeout_s
    while True:
        ready = await async_get(base_url + "/ready")
        if until(ready) or time.monotonic() > deadline:
            return ready
        await asyncio.sleep(0.5)


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
