"""Fixtures for the STT server tests: URLs of the session-wide real server (``stt_server``)."""

from __future__ import annotations

import pytest

from voice_agent.processes import ServiceProcess


@pytest.fixture(scope="session")
def stt_http(stt_server: ServiceProcess) -> str:
    return stt_server.spec.base_url


@pytest.fixture(scope="session")
def stt_ws(stt_http: str) -> str:
    return stt_http.replace("http://", "ws://", 1)
