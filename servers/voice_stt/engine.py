"""The one shared faster-whisper model, used by every session without blocking the event loop.

Decoding runs in worker threads (CTranslate2 releases the GIL) behind a semaphore, so at most
``max_concurrent_transcriptions`` decode at once while ``/health`` and other sessions stay
responsive; requests beyond that wait in line and are counted in ``stt_queue_depth``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import numpy as np
from faster_whisper import WhisperModel

from voice_stt import metrics
from voice_stt.settings import STTSettings

SAMPLE_RATE = 16000


@dataclass
class Transcript:
    text: str
    language: str
    audio_seconds: float
    decode_seconds: float
    segments: list[dict]


class WhisperEngine:
    def __init__(self, settings: STTSettings) -> None:
        self.settings = settings
        self.model = WhisperModel(
            settings.model_path,
            device=settings.device,
            compute_type=settings.compute_type,
            cpu_threads=settings.cpu_threads,
            num_workers=settings.max_concurrent_transcriptions,
            local_files_only=True,
        )
        self._slots = asyncio.Semaphore(settings.max_concurrent_transcriptions)
        self.ready = False

    def _decode(self, audio: np.ndarray, language: str | None) -> Transcript:
        started = time.perf_counter()
        segments, info = self.model.transcribe(
            audio,
            language=language or self.settings.language,
            beam_size=self.settings.beam_size,
            vad_filter=False,  # the caller's VAD already cut the utterance
            condition_on_previous_text=False,
            without_timestamps=True,
        )
        segment_list = [
            {"start": round(s.start, 2), "end": round(s.end, 2), "text": s.text.strip()} for s in segments
        ]
        decode_seconds = time.perf_counter() - started
        text = " ".join(s["text"] for s in segment_list).strip()
        return Transcript(text, info.language, audio.size / SAMPLE_RATE, decode_seconds, segment_list)

    async def transcribe(self, audio: np.ndarray, language: str | None = None) -> Transcript:
        """Transcribe 16 kHz float32 mono audio; empty text for silence or no audio."""
        if audio.size < SAMPLE_RATE // 10:  # under 100 ms: nothing Whisper can hear
            return Transcript("", language or self.settings.language, audio.size / SAMPLE_RATE, 0.0, [])
        metrics.QUEUE_DEPTH.inc()
        async with self._slots:
            metrics.QUEUE_DEPTH.dec()
            result = await asyncio.to_thread(self._decode, audio, language)
        metrics.AUDIO_SECONDS.inc(result.audio_seconds)
        metrics.REAL_TIME_FACTOR.observe(result.decode_seconds / max(result.audio_seconds, 1e-6))
        return result

    async def warm_up(self) -> None:
        """One decode at start-up so the first caller does not pay for lazy initialisation."""
        if self.settings.warmup:
            rng = np.random.default_rng(0)
            await self.transcribe((rng.standard_normal(SAMPLE_RATE) * 0.01).astype(np.float32))
        self.ready = True
