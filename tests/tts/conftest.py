"""Fixtures for the TTS server tests: URLs of the session-wide real server (``tts_server``)."""

from __future__ import annotations

import httpx
import pytest
import pytest_asyncio

from tts_helpers import TIMEOUT_S
from voice_agent.processes import ServiceProcess


@pytest.fixture(scope="session")
def tts_http(tts_server: ServiceProcess) -> str:
    return tts_server.spec.base_url


@pytest.fixture(scope="session")
def tts_ws(tts_http: str) -> str:
    return tts_http.replace("http://", "ws://", 1) + "/ws"


@pytest_asyncio.fixture(loop_scope="function")  # the tests' loop, not the session-wide fixture loop
async def http(tts_http: str):
    async with httpx.AsyncClient(base_url=tts_http, timeout=TIMEOUT_S) as client:
        yield client
