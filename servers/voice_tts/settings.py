"""Typed settings of the TTS server, from ``TTS_*`` environment variables."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from voice_common.protocol.parsing import MAX_MESSAGE_BYTES

KOKORO_MAX_PHONEMES = 510  # the model's context: kokoro-onnx refuses longer calls


def _models_dir() -> str:
    return os.environ.get("VOICE_MODELS_DIR", "models")


class TTSSettings(BaseSettings):
    """Model, voices, hardware and limits. Paths take kokoro-onnx's upstream files."""

    model_config = SettingsConfigDict(env_prefix="TTS_", env_file=None)

    host: str = "0.0.0.0"
    port: int = 8880
    model_path: str = Field(default_factory=lambda: os.path.join(_models_dir(), "kokoro", "kokoro-v1.0.int8.onnx"))
    voices_path: str = Field(default_factory=lambda: os.path.join(_models_dir(), "kokoro", "voices-v1.0.bin"))
    default_voice: str = "af_heart"
    lang: str = "en-us"
    device: Literal["cpu", "cuda"] = "cpu"
    # ONNX Runtime threads of a model call; 0 = every CPU this process may run on (on a GPU, ONNX
    # Runtime's default). A call that starts while another runs gets its share instead
    # (intra_op_threads / max_concurrent_syntheses): voice_tts.engine.call_threads.
    intra_op_threads: int = Field(default=0, ge=0)
    # Whether a call beside another runs on its share of the threads, from a second session of the
    # model (~0.2 GB more memory); false: one session, every call on intra_op_threads.
    split_threads: bool = True
    # ONNX Runtime's pool threads spin between operators by default. Where the TTS shares cores with
    # another busy process (the LLM generating the rest of a reply, on a CPU node), a spinning thread
    # burns the time slice its descheduled peer needs, and the first audio comes later.
    intra_op_spinning: bool = False
    # How cuDNN picks each convolution's algorithm on the GPU. Kokoro's convolutions take a new shape
    # with every new length of text, and ONNX Runtime's default, EXHAUSTIVE, times every algorithm
    # for each new shape: a caller's first phrase would pay that search on almost every turn.
    # HEURISTIC asks cuDNN's heuristics instead (bench/bench_gpu.py measures both on unseen text).
    cuda_conv_algo_search: Literal["EXHAUSTIVE", "HEURISTIC", "DEFAULT"] = "HEURISTIC"
    # Open /ws sessions; more get too_many_sessions and close 1013. A safety cap, not a synthesis
    # bound (max_concurrent_syntheses is): a gateway replica holds one session per caller (32 by default).
    max_sessions: int = Field(default=64, ge=1)
    max_concurrent_syntheses: int = 2
    max_input_chars: int = 4096
    first_chunk_max_chars: int = 80  # short first chunk: the first audio byte waits only for it
    later_chunk_max_chars: int = 300  # bigger later chunks: fewer model calls, better prosody
    # Phonemes per model call: characters do not bound phonemes (letters and digits run together
    # are spelled one by one, 80 characters can be 400 phonemes), and the first audio byte waits
    # for a whole call. Longer runs are split at sentences, clauses, words, then mid-run. Measured
    # on 2 CPU cores, the cost per audio second is flat from 128 to 510 phonemes a call, so 256
    # costs normal text nothing (a 300-character chunk is ~250-300 phonemes) and halves the longest call.
    max_phonemes_per_call: int = Field(default=256, gt=0, le=KOKORO_MAX_PHONEMES)
    max_body_bytes: int = MAX_MESSAGE_BYTES  # largest HTTP request body read; bigger ones get 413
    stream_piece_seconds: float = 0.2  # audio is sent in pieces of this length
    warmup: bool = True
    # Largest WebSocket message the protocol layer reads (a request is text of at most
    # max_input_chars, 4 bytes each in UTF-8, plus its JSON); bigger ones get frame_too_large + 1009.
    ws_max_message_bytes: int = 64 * 1024
