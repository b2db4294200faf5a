"""Rolling updates: a draining gateway refuses new calls, turns unready, and waits for live ones."""

from __future__ import annotations

import asyncio

import httpx
import pytest

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
