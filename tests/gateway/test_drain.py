"""Rolling updates: a draining gateway refuses new calls, turns unready, and waits for live ones."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from support import ready_within
from voice_agent.client import Caller

pytestmark = pytest.mark.slow


async def test_drain_waits_for_live_calls_and_refuses_new_ones(gateway_with):
    gateway = gateway_with(GATEWAY_DRAIN_TIMEOUT_SECS="20")
    url = f"ws://127.0.0.1:{gateway.spec.port}/ws"
    async with httpx.AsyncClient(base_url=gateway.spec.base_url, timeout=30) as http:
        async with Caller(url) as live_call:
            drain = asyncio.create_task(http.post("/drain"))
            await asyncio.sleep(0.5)
            assert not drain.done(), "drain returns only when live calls have ended"
            assert (await http.get("/ready")).status_code == 503
            async with Caller(url) as late_call:
                assert [e["code"] for e in late_call.conversation.errors] == ["server_draining"]
            await live_call.silence(0.2)
        result = (await drain).json()
    assert result == {"draining": True, "sessions_left": 0}


async def test_drain_admits_new_calls_for_its_admit_period_first(gateway_with):
    """GATEWAY_DRAIN_ADMIT_SECS (the chart's 5 s): unready at once, but callers still routed here by
    kube-proxy or an ingress that has not yet seen the pod go are taken, then refused."""
    # 4 s: time enough to open a call while admitting, even with the machine busy with other tests.
    gateway = gateway_with(GATEWAY_DRAIN_TIMEOUT_SECS="20", GATEWAY_DRAIN_ADMIT_SECS="4")
    url = f"ws://127.0.0.1:{gateway.spec.port}/ws"
    async with httpx.AsyncClient(base_url=gateway.spec.base_url, timeout=30) as http:
        async with Caller(url) as live_call:
            drain = asyncio.create_task(http.post("/drain"))
            await asyncio.sleep(0.3)
            ready = await http.get("/ready")
            assert ready.status_code == 503 and ready.json()["draining"] and ready.json()["admitting"]
            async with Caller(url) as routed_late:
                assert not routed_late.conversation.errors, "admitted while the routes catch up"
            ended = await ready_within(gateway.spec.base_url, 10, until=lambda r: not r.json()["admitting"])
            assert not ended.json()["admitting"], "admitting ends after its period"
            async with Caller(url) as later:
                assert [e["code"] for e in later.conversation.errors] == ["server_draining"]
            assert not drain.done(), "the live call is still waited for"
            await live_call.silence(0.2)
        result = (await drain).json()
    assert result == {"draining": True, "sessions_left": 0}
