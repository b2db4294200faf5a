"""The one shared Kokoro model, streaming chunk by chunk without blocking the event loop.

Each text chunk is synthesized in a worker thread (ONNX Runtime releases the GIL) behind a
semaphore, so several requests stream at once and none blocks another's first byte beyond
the slot it waits for; a cancelled stream stops before its next chunk.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import numpy as np
import onnxruntime as ort
from kokoro_onnx import Kokoro

from voice_common.audio import float32_to_pcm16
from voice_tts import metrics
from voice_tts.chunking import chunk_text
from voice_tts.settings import TTSSettings

SAMPLE_RATE = 24000
MIN_SPEED, MAX_SPEED = 0.5, 2.0


def _session(settings: TTSSettings) -> ort.InferenceSession:
    options = ort.SessionOptions()
    if settings.intra_op_threads:
        options.intra_op_num_threads = settings.intra_op_threads
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if settings.device == "cuda" else ["CPUExecutionProvider"]
    return ort.InferenceSession(settings.model_path, sess_options=options, providers=providers)


class KokoroEngine:
    def __init__(self, settings: TTSSettings) -> None:
        self.settings = settings
        self.kokoro = Kokoro.from_session(_session(settings), settings.voices_path)
        self.voices = sorted(self.kokoro.get_voices())
        self._slots = asyncio.Semaphore(settings.max_concurrent_syntheses)
        self.ready = False

    def _synthesize(self, text: str, voice: str, speed: float) -> np.ndarray:
        started = time.perf_counter()
        samples, _ = self.kokoro.create(text, voice=voice, speed=speed, lang=self.settings.lang)
        seconds = samples.size / SAMPLE_RATE
        metrics.AUDIO_SECONDS.inc(seconds)
        metrics.REAL_TIME_FACTOR.observe((time.perf_counter() - started) / max(seconds, 1e-6))
        return samples

    async def stream(
        self, text: str, voice: str, speed: float, cancelled: Callable[[], bool] = lambda: False
    ) -> AsyncIterator[bytes]:
        """PCM s16le 24 kHz pieces of ``text`` spoken, chunk after chunk, until done or cancelled."""
        piece_bytes = int(self.settings.stream_piece_seconds * SAMPLE_RATE) * 2
        for chunk in chunk_text(text, self.settings.first_chunk_max_chars, self.settings.later_chunk_max_chars):
            if cancelled():
                return
            metrics.QUEUE_DEPTH.inc()
            async with self._slots:
                metrics.QUEUE_DEPTH.dec()
                if cancelled():
                    return
                samples = await asyncio.to_thread(self._synthesize, chunk, voice, speed)
            pcm = float32_to_pcm16(samples)
            for offset in range(0, len(pcm), piece_bytes):
                if cancelled():
                    return
                yield pcm[offset : offset + piece_bytes]

    async def warm_up(self) -> None:
        """Synthesize once at start-up so the first caller does not pay for initialisation."""
        if self.settings.warmup:
            async for _ in self.stream("Hello there.", self.settings.default_voice, 1.0):
                pass
        self.ready = True
