"""The gateway's drain (POST /drain, the preStop hook): unready at once, admitting for drain_admit_secs,
then refusing new calls while live ones finish, all within drain_timeout_secs."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError

from voice_gateway.sessions import SessionRegistry
from voice_gateway.settings import GatewaySettings


async def test_a_drain_admits_new_calls_for_its_admit_period_then_refuses_them():
    """kube-proxy and ingresses still route new calls to a terminating pod for a moment: those are taken."""
    sessions = SessionRegistry(max_sessions=4)
    live = sessions.opened()
    drain = asyncio.create_task(sessions.drain(timeout_s=5, admit_s=0.3))
    await asyncio.sleep(0.1)
    assert sessions.draining, "unready from the start"
    assert sessions.refusal() is None, "still admitting"
    late = sessions.opened()  # routed here before the routes moved: admitted, and drained like the rest
    await asyncio.sleep(0.4)
    assert sessions.refusal()[0] == "server_draining"
    assert not drain.done(), "the drain waits for every live call, the late one too"
    sessions.finished(live)
    await asyncio.sleep(0.05)
    assert not drain.done()
    sessions.finished(late)
    assert await asyncio.wait_for(drain, 1) == 0


async def test_a_drain_with_no_live_call_still_lasts_its_admit_period():
    """Returning at once would let the process exit while calls are still routed to it (refused connections)."""
    sessions = SessionRegistry(max_sessions=4)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await sessions.drain(timeout_s=5, admit_s=0.3) == 0
    assert loop.time() - started >= 0.29
    assert sessions.refusal()[0] == "server_draining"


async def test_the_admit_period_counts_within_the_drain_timeout():
    sessions = SessionRegistry(max_sessions=4)
    sessions.opened()
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await sessions.drain(timeout_s=0.5, admit_s=0.3) == 1, "the call left when the timeout came"
    assert 0.45 <= loop.time() - started < 0.8, "the timeout is the whole drain's, admit period included"


async def test_without_an_admit_period_a_drain_refuses_at_once():
    sessions = SessionRegistry(max_sessions=4)
    drain = asyncio.create_task(sessions.drain(timeout_s=5))
    await asyncio.sleep(0)
    assert sessions.draining and sessions.refusal()[0] == "server_draining"
    assert await asyncio.wait_for(drain, 1) == 0


def test_the_admit_period_must_leave_time_to_drain():
    assert GatewaySettings().drain_admit_secs == 0
    assert GatewaySettings(drain_admit_secs=5, drain_timeout_secs=25).drain_admit_secs == 5
    with pytest.raises(ValidationError, match="drain_admit_secs"):
        GatewaySettings(drain_admit_secs=25, drain_timeout_secs=25)
    with pytest.raises(ValidationError):
        GatewaySettings(drain_admit_secs=-1)
