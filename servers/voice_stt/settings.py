"""Typed settings of the STT server, from ``STT_*`` environment variables (the Helm chart sets them)."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from voice_common.audio import PCM_SAMPLE_WIDTH
from voice_common.protocol.constants import STT_SAMPLE_RATE

MODEL_SAMPLE_RATE = STT_SAMPLE_RATE  # Whisper's input rate; the legacy /ws and raw HTTP PCM default to it
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 8000, 48000  # input rates resampled to 16 kHz; others are refused
ComputeType = Literal[
    "default", "auto", "int8", "int8_float16", "int8_float32", "int8_bfloat16", "int16", "float16", "bfloat16", "float32"
]


def _default_model_path() -> str:
    return os.path.join(os.environ.get("VOICE_MODELS_DIR", "models"), "whisper-base")


class STTSettings(BaseSettings):
    """Model, hardware, latency and abuse limits of one STT server process."""

    model_config = SettingsConfigDict(env_prefix="STT_", env_file=None)

    host: str = "0.0.0.0"
    port: int = 8000

    # Model and hardware (CTranslate2 via faster-whisper).
    model_path: str = Field(default_factory=_default_model_path, description="faster-whisper (CTranslate2) model directory")
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    compute_type: ComputeType = "int8"
    beam_size: int = Field(default=1, ge=1, description="1 = greedy decoding, the lowest latency")
    cpu_threads: int = Field(default=0, ge=0, description="threads per transcription; 0 = CTranslate2's default")
    language: str = Field(default="en", description="default language; a session's `start` may override it")
    encoder_window_seconds: float = Field(
        default=10.0,
        gt=0,
        le=30,
        description="shortest encoder window for short audio (Whisper's own: 30 = upstream behaviour, slowest)",
    )

    # Concurrency and limits.
    max_sessions: int = Field(
        default=64,
        ge=1,
        description="open /v1/listen + /ws sessions; more get too_many_sessions. A safety cap, not a decode bound: "
        "a gateway replica holds one idle session per caller (32 by default), so this sits above that; "
        "decodes are bounded by max_concurrent_transcriptions",
    )
    max_concurrent_transcriptions: int = Field(
        default=2, ge=1, description="decodes running at once (model workers and threads); others wait their turn"
    )
    max_concurrent_uploads: int = Field(
        default=1,
        ge=1,
        description="of those, how many /v1/audio/transcriptions may hold; below max_concurrent_transcriptions, "
        "a live turn always finds a free slot (and live turns go first whenever slots are short)",
    )
    max_frame_bytes: int = Field(default=128 * 1024, ge=2, description="largest binary frame on /v1/listen")
    max_utterance_seconds: float = Field(default=30.0, gt=0, description="longest segment kept between flushes")
    max_upload_bytes: int = Field(default=25 * 1024 * 1024, ge=1, description="largest file for /v1/audio/transcriptions")
    max_upload_seconds: float = Field(
        default=300.0,
        gt=0,
        description="longest audio for /v1/audio/transcriptions, checked before decoding: such a file holds "
        "an upload slot for about 15 s on 2 CPU cores (whisper-base int8), longer on a busy machine; "
        "raise it for batch use",
    )

    # Streaming behaviour.
    interim_interval_secs: float = Field(default=1.0, gt=0, description="how often partials are attempted")
    silence_threshold_dbfs: float = Field(
        default=-50.0, description="audio whose every 20 ms window is quieter than this is silence: empty text, no decode"
    )
    warmup: bool = Field(default=True, description="decode once per worker before /ready turns 200")

    @model_validator(mode="after")
    def _uploads_fit_the_slots(self) -> STTSettings:
        if self.max_concurrent_uploads > self.max_concurrent_transcriptions:
            raise ValueError(
                f"max_concurrent_uploads ({self.max_concurrent_uploads}) cannot exceed "
                f"max_concurrent_transcriptions ({self.max_concurrent_transcriptions})"
            )
        return self

    def utterance_bytes(self, sample_rate: int) -> int:
        """Most PCM bytes one segment (or one legacy /ws frame) may hold at ``sample_rate``."""
        return int(self.max_utterance_seconds * sample_rate) * PCM_SAMPLE_WIDTH

    @property
    def ws_max_message_bytes(self) -> int:
        """The WebSocket layer's hard cap: above our own limits, so oversized frames still get a JSON error first."""
        return 2 * max(self.max_frame_bytes, self.utterance_bytes(MODEL_SAMPLE_RATE))
