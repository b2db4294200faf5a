"""Shared fixtures: real servers on loopback with the real weights, and real speech to feed them.

Servers run as child processes through the same supervisor as ``voice-agent up``
(``voice_agent.processes``), each on a free port so a running local stack does not collide.
Speech for STT and gateway tests is synthesized once per session by Kokoro itself.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pytest

from voice_agent.processes import ProcessGroup, ServiceProcess, ServiceSpec, python_module

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
    proc = ServiceProcess(spec, LOG_DIR)
    try:
        proc.wait_ready(ready_timeout_s)
    except BaseException:
        proc.stop()
        raise
    return proc


@pytest.fixture(scope="session")
def models_dir() -> Path:
    if not (MODELS_DIR / "whisper-base" / "model.bin").exists():
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


@pytest.fixture(scope="session")
def speech():
    """Factory fixture: ``speech("Hello there")`` -> PCM bytes (16 kHz unless a rate is given)."""
    return spoken


@dataclass
class LocalStack:
    """The whole local stack (STT, TTS, LLM, gateway) running on free loopback ports."""

    ports: "StackPorts"
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
    """One local stack shared by the end-to-end, browser and load tests (started once: ~30 s)."""
    from voice_agent.stack import StackPorts, stack_specs

    ports = StackPorts(stt=free_port(), tts=free_port(), llm=free_port(), gateway=free_port())
    group = ProcessGroup(LOG_DIR)
    group.start(stack_specs(models_dir, ports, gateway_env={"GATEWAY_LLM_MAX_TOKENS": "80"}), timeout_s=300)
    yield LocalStack(ports, group)
    group.stop()
