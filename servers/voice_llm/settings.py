"""Typed settings of the CPU LLM server, from ``LLM_*`` environment variables."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class LLMSettings(BaseSettings):
    """The model, the name it answers to, and how much of the machine it may use."""

    model_config = SettingsConfigDict(env_prefix="LLM_", env_file=None)

    model_path: str  # a GGUF file
    model_alias: str = "voice-llm"  # the ``model`` clients send (the gateway's GATEWAY_LLM_MODEL)
    host: str = "0.0.0.0"
    port: int = 8080
    # Conversations decoded at once (llama.cpp's slots, continuously batched). On CPU a second
    # caller's tokens ride in the same batch for little extra time; with one slot they queue.
    parallel: int = Field(default=2, ge=1)
    # Tokens each conversation may hold (prompt and reply). llama.cpp splits its context evenly
    # between slots, so the server's whole context is this times ``parallel``.
    context_per_slot: int = Field(default=2048, ge=256)
    # Generation threads; 0 = llama.cpp's default (one per physical core). Prompt processing
    # (the first token's wait) uses ``batch_threads``, which may be more: it is short and parallel.
    threads: int = Field(default=0, ge=0)
    batch_threads: int = Field(default=0, ge=0)
    # What llama.cpp's OpenMP worker threads do between operators: spin (ACTIVE) or sleep
    # (PASSIVE). Where the LLM shares cores with the TTS and STT, a spinning thread burns the time
    # slice its descheduled peer needs. Measured here with one core kept busy, 2 prompt threads:
    # first token p50 373 ms spinning by default, 231 ms passive (130 vs 121 ms on idle cores).
    omp_wait_policy: Literal["PASSIVE", "ACTIVE"] = "PASSIVE"
    # CPU priority below the TTS and STT that share its cores (0: none; 19: the lowest): the first
    # audio comes sooner, the next phrase later (voice_llm.priority; measured in docs/benchmarks.md).
    nice: int = Field(default=0, ge=0, le=19)

    @property
    def context_size(self) -> int:
        return self.context_per_slot * self.parallel
