"""Fixtures for gateway tests: extra gateways whose upstreams a test chooses."""

from __future__ import annotations

import pytest

from voice_agent.processes import ServiceProcess
from voice_agent.stack import LLM_MODEL_ALIAS
from voice_testkit.services import start_service


@pytest.fixture
def gateway_with(local_stack):
    """Start a separate gateway whose upstreams the test chooses (default: the local stack's)."""
    started: list[ServiceProcess] = []

    def start(**env: str) -> ServiceProcess:
        base = {
            "GATEWAY_STT_URL": f"ws://127.0.0.1:{local_stack.ports.stt}/v1/listen",
            "GATEWAY_TTS_URL": f"ws://127.0.0.1:{local_stack.ports.tts}/ws",
            "GATEWAY_LLM_BASE_URL": local_stack.llm_base_url,
            "GATEWAY_LLM_MODEL": LLM_MODEL_ALIAS,
            "GATEWAY_UPSTREAM_TIMEOUT_SECS": "3",
        }
        proc = start_service("gateway", "voice_gateway", {**base, **env}, ready_path="/health")
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()
