"""The one shared Whisper model, decoding off the event loop with bounded concurrency.

The model loads once per process and serves every session. Each decode runs in a worker
thread (CTranslate2 releases the GIL) behind a semaphore the size of the thread pool, so
``/health`` and the WebSockets stay responsive while it works and the number of decodes in
flight never exceeds ``max_concurrent_transcriptions`` (the model has as many workers).
Decoding is tuned for latency: greedy by default, a single temperature (no fallback
re-decodes), no conditioning on previous text, no VAD filter (clients send speech segments),
and a short encoder window for short segments (see ``_WindowedWhisper``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import ctranslate2
import numpy as np
from faster_whisper import WhisperModel

from voice_common.audio import PCM_SAMPLE_WIDTH, pcm16_to_float32, resample, trailing_silence_seconds
from voice_stt import metrics
from voice_stt.settings import MODEL_SAMPLE_RATE, STTSettings

logger = logging.getLogger("voice_stt")

FRAMES_PER_SECOND = 100  # Whisper's mel frames (10 ms hop)
FULL_WINDOW_FRAMES = 30 * FRAMES_PER_SECOND  # the 30 s window Whisper was trained on
WINDOW_MARGIN_FRAMES = FRAMES_PER_SECOND  # room after the speech inside a shortened window
DEGENERATE_COMPRESSION_RATIO = 2.4  # faster-whisper's own threshold for repetition loops


class _WindowedWhisper(WhisperModel):
    """faster-whisper pads every segment to Whisper's 30 s window, so a 2 s utterance costs the
    encoder as much as 30 s of audio: most of a short decode's time on CPU. This model trims that
    padding to the window the calling thread set (3-5x faster for 2-6 s turns on CPU, same text
    on our test speech); ``None`` keeps the full window. Thread-local, since workers decode in parallel.
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.window = threading.local()

    def encode(self, features: np.ndarray) -> ctranslate2.StorageView:
        frames = getattr(self.window, "frames", None)
        if frames is not None:
            features = np.ascontiguousarray(features[..., :frames])
        return super().encode(features)


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Transcript:
    text: str
    language: str
    audio_seconds: float
    segments: tuple[Segment, ...] = ()


class WhisperEngine:
    """Loads, warms up and runs the shared model; ``ready`` is what ``/ready`` reports."""

    def __init__(self, settings: STTSettings) -> None:
        self.settings = settings
        self.ready = False
        self._model: _WindowedWhisper | None = None
        workers = settings.max_concurrent_transcriptions
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="stt-decode")
        self._slots = asyncio.Semaphore(workers)

    async def start(self) -> None:
        """Load the model, then decode once per worker so the first caller does not pay for initialisation."""
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        self._model = await loop.run_in_executor(self._pool, self._load)
        logger.info(
            "loaded %s on %s/%s in %.1f s",
            self.settings.model_path, self.settings.device, self.settings.compute_type, time.perf_counter() - started,
        )
        if self.settings.warmup:
            started = time.perf_counter()
            noise = np.random.default_rng(0).normal(0.0, 0.05, MODEL_SAMPLE_RATE).astype(np.float32)
            workers = self.settings.max_concurrent_transcriptions
            await asyncio.gather(
                *(loop.run_in_executor(self._pool, self._infer, noise, self.settings.language, False) for _ in range(workers))
            )
            logger.info("warm-up done in %.1f s", time.perf_counter() - started)
        self.ready = True

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def supports(self, language: str) -> bool:
        """Whether the loaded model knows ``language`` (an English-only model knows only "en")."""
        return self._model is not None and language in self._model.supported_languages

    @property
    def busy(self) -> bool:
        """True when every decode slot is taken: optional work (partials) should not queue behind it."""
        return self._slots.locked()

    async def transcribe(
        self, pcm: bytes, sample_rate: int, language: str | None = None, timestamps: bool = False
    ) -> Transcript:
        """Transcribe s16le mono PCM at ``sample_rate``; waits for a free slot, never blocks the loop."""
        async with self._slots:
            return await asyncio.get_running_loop().run_in_executor(
                self._pool, self._transcribe, pcm, sample_rate, language or self.settings.language, timestamps
            )

    # -- worker threads -----------------------------------------------------------------------
    def _load(self) -> _WindowedWhisper:
        return _WindowedWhisper(
            self.settings.model_path,
            device=self.settings.device,
            compute_type=self.settings.compute_type,
            cpu_threads=self.settings.cpu_threads,
            num_workers=self.settings.max_concurrent_transcriptions,
        )

    def _transcribe(self, pcm: bytes, sample_rate: int, language: str, timestamps: bool) -> Transcript:
        seconds = len(pcm) // PCM_SAMPLE_WIDTH / sample_rate
        if seconds == 0 or trailing_silence_seconds(pcm, sample_rate, self.settings.silence_threshold_dbfs) >= seconds:
            # Whisper invents text ("Thank you.") for silence; silence must come back empty, and fast.
            return Transcript("", language, seconds)
        audio = resample(pcm16_to_float32(pcm), sample_rate, MODEL_SAMPLE_RATE)
        started = time.perf_counter()
        segments = self._infer(audio, language, timestamps)
        metrics.AUDIO_SECONDS.inc(seconds)
        metrics.REAL_TIME_FACTOR.observe((time.perf_counter() - started) / seconds)
        return Transcript(" ".join(s.text for s in segments if s.text), language, seconds, segments)

    def _window_frames(self, samples: int) -> int | None:
        """The encoder window for audio of ``samples`` at 16 kHz: None = Whisper's full 30 s."""
        content = samples * FRAMES_PER_SECOND // MODEL_SAMPLE_RATE
        frames = max(round(self.settings.encoder_window_seconds * FRAMES_PER_SECOND), content + WINDOW_MARGIN_FRAMES)
        return frames if frames < FULL_WINDOW_FRAMES else None

    def _infer(self, audio: np.ndarray, language: str, timestamps: bool) -> tuple[Segment, ...]:
        frames = self._window_frames(audio.size)
        segments = self._decode(audio, language, timestamps, frames)
        if frames is not None and any(s.compression_ratio > DEGENERATE_COMPRESSION_RATIO for s in segments):
            logger.warning("repetitive decode in a %d-frame window; decoding again in the full window", frames)
            segments = self._decode(audio, language, timestamps, None)
        return tuple(Segment(s.start, s.end, s.text.strip()) for s in segments)

    def _decode(self, audio: np.ndarray, language: str, timestamps: bool, frames: int | None) -> list:
        self._model.window.frames = frames
        try:
            segments, _info = self._model.transcribe(
                audio,
                language=language,
                beam_size=self.settings.beam_size,
                best_of=1,
                temperature=0.0,
                condition_on_previous_text=False,
                vad_filter=False,
                without_timestamps=not timestamps,
            )
            return list(segments)  # the generator decodes here, inside the window
        finally:
            self._model.window.frames = None
