"""Typed settings of the STT server, from ``STT_*`` environment variables."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_model_path() -> str:
    return os.path.join(os.environ.get("VOICE_MODELS_DIR", "models"), "whisper-base")


class STTSettings(BaseSettings):
    """Model, hardware and limits. The model path takes any faster-whisper (CTranslate2) directory."""

    model_config = SettingsConfigDict(env_prefix="STT_", env_file=None)

    host: str = "0.0.0.0"
    port: int = 8000
    model_path: str = Field(default_factory=_default_model_path)
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    compute_type: str = "int8"  # int8 on CPU; float16 or int8_float16 on GPU
    beam_size: int = 1  # greedy decoding: the latency-friendly choice for short turns
    cpu_threads: int = 0  # 0 = CTranslate2's default (all cores)
    language: str = "en"
    max_sessions: int = 64
    max_concurrent_transcriptions: int = 2
    max_frame_bytes: int = 256 * 1024
    max_utterance_seconds: float = 60.0
    interim_interval_seconds: float = 1.0
    warmup: bool = True
