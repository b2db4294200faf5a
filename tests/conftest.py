"""Shared fixtures: real servers on loopback with the real weights, and real speech to feed them.

Servers run as child processes through the same supervisor as ``voice-agent up``
(``voice_agent.processes``), each on a free port so a running local stack does not collide.
Speech for STT and gateway tests is synthesized once per session by Kokoro itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from voice_agent.processes import ProcessGroup, ServiceProcess
from voice_agent.stack import StackPorts, stack_specs
from voice_testkit.services import LOG_DIR, MODELS_DIR, free_port, start_service
from voice_testkit.speech import spoken


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files that start real servers (or the kwok control plane) run first, the quick files last.

    ``make test`` gives two xdist workers a file at a time in this order
    (``--no-loadscope-reorder``): the quick files then fill the end of the run, instead of one
    worker finishing a long real-time file alone while the other idles.
    """
    items.sort(key=lambda item: not any(item.get_closest_marker(heavy) for heavy in ("slow", "cluster")))


@pytest.fixture(scope="session")
def models_dir() -> Path:
    if not all((MODELS_DIR / whisper / "model.bin").exists() for whisper in ("whisper-base", "whisper-tiny.en")):
        pytest.fail(f"models are not assembled in {MODELS_DIR}; run `make models`")
    return MODELS_DIR


@pytest.fixture(scope="session")
def stt_server(models_dir: Path) -> Iterator[ServiceProcess]:
    proc = start_service("stt", "voice_stt", {"STT_MAX_SESSIONS": "8"})
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def tts_server(models_dir: Path) -> Iterator[ServiceProcess]:
    proc = start_service("tts", "voice_tts", {})
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def speech():
    """Factory fixture: ``speech("Hello there")`` -> PCM bytes (16 kHz unless a rate is given)."""
    return spoken


@dataclass
class LocalStack:
    """The whole local stack (STT, TTS, LLM, gateway) running on free loopback ports."""

    ports: StackPorts
    group: ProcessGroup

    @property
    def gateway_http(self) -> str:
        return f"http://127.0.0.1:{self.ports.gateway}"

    @property
    def gateway_ws(self) -> str:
        return f"ws://127.0.0.1:{self.ports.gateway}/ws"

    @property
    def tts_http(self) -> str:
        return f"http://127.0.0.1:{self.ports.tts}"

    @property
    def stt_http(self) -> str:
        return f"http://127.0.0.1:{self.ports.stt}"

    @property
    def llm_base_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.llm}/v1"


@pytest.fixture(scope="session")
def local_stack(models_dir: Path) -> Iterator[LocalStack]:
    """One local stack shared by the end-to-end, browser and load tests (started once: ~30 s).

    The gateway waits up to 30 s for an upstream (10 s by default): these tests check behaviour,
    and a 2-core CI machine running a CPU LLM, Kokoro and Whisper at once can be that slow.
    """
    ports = StackPorts(stt=free_port(), tts=free_port(), llm=free_port(), gateway=free_port())
    group = ProcessGroup(LOG_DIR)
    gateway_env = {"GATEWAY_LLM_MAX_TOKENS": "80", "GATEWAY_UPSTREAM_TIMEOUT_SECS": "30"}
    group.start(stack_specs(models_dir, ports, gateway_env=gateway_env), timeout_s=300)
    yield LocalStack(ports, group)
    group.stop()
