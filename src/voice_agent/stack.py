"""The local stack: STT, LLM, TTS and gateway as processes on this machine, with the small models.

``voice-agent up``/``demo``, the end-to-end tests and the stack benchmark all start it from here,
so they run exactly the same commands and settings.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from voice_agent.processes import ServiceSpec, python_module
from voice_common.models import LLM_GGUF_NAME

LLM_MODEL_ALIAS = "voice-llm"
LOG_DIR = Path(".cache/logs")  # the local stack's server logs, one file per server


@dataclass(frozen=True)
class StackPorts:
    stt: int = 8000
    tts: int = 8880
    llm: int = 8080
    gateway: int = 7860


def default_models_dir() -> Path:
    return Path(os.environ.get("VOICE_MODELS_DIR", "models")).resolve()


def llm_spec(models_dir: Path, port: int, name: str = "llm", host: str = "127.0.0.1") -> ServiceSpec:
    """llama.cpp's OpenAI-compatible server with the small instruct model (the CPU stand-in for vLLM).

    One generation thread leaves the other core of a 2-core laptop to the TTS, which synthesizes
    the first phrase while the LLM writes the rest; prompt processing (the first token's wait)
    takes both, as it is short: measured here, 1 generation thread costs no tokens/s against 2,
    and 2 prompt threads halve the first token's wait (227 -> 119 ms) against 1.
    """
    return ServiceSpec(
        name,
        python_module("voice_llm"),
        port,
        env={
            "LLM_MODEL_PATH": str(models_dir / "llm" / LLM_GGUF_NAME),
            "LLM_MODEL_ALIAS": LLM_MODEL_ALIAS,
            "LLM_HOST": host,
            "LLM_PORT": str(port),
            "LLM_THREADS": "1",
            "LLM_BATCH_THREADS": "2",
        },
        ready_path="/health",
    )


def stack_specs(
    models_dir: Path, ports: StackPorts = StackPorts(), gateway_env: dict[str, str] | None = None
) -> list[ServiceSpec]:
    """Specs in start order; the gateway comes last because its readiness needs the other three."""
    host = "127.0.0.1"
    common = {"VOICE_MODELS_DIR": str(models_dir)}
    return [
        ServiceSpec("stt", python_module("voice_stt"), ports.stt, env={**common, "STT_HOST": host, "STT_PORT": str(ports.stt)}),
        ServiceSpec("tts", python_module("voice_tts"), ports.tts, env={**common, "TTS_HOST": host, "TTS_PORT": str(ports.tts)}),
        llm_spec(models_dir, ports.llm),
        ServiceSpec(
            "gateway",
            python_module("voice_gateway"),
            ports.gateway,
            env={
                "GATEWAY_HOST": host,
                "GATEWAY_PORT": str(ports.gateway),
                "GATEWAY_STT_URL": f"ws://{host}:{ports.stt}/v1/listen",
                "GATEWAY_TTS_URL": f"ws://{host}:{ports.tts}/ws",
                "GATEWAY_LLM_BASE_URL": f"http://{host}:{ports.llm}/v1",
                "GATEWAY_LLM_MODEL": LLM_MODEL_ALIAS,
                **(gateway_env or {}),
            },
        ),
    ]
