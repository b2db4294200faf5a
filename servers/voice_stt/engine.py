"""The one shared Whisper model, decoding off the event loop with bounded concurrency.

The model loads once per process and serves every session. Each decode runs in a worker thread
while holding one of ``max_concurrent_transcriptions`` slots (the model has as many workers;
loading, warm-up and the pool are ``voice_common.engine``'s). Slots go to live turns before
uploads (see ``voice_stt.slots``), and audio longer than one 30 s window gives its slot back after
each window, so a live decode never waits behind more than one window of someone's long file;
faster-whisper's own window-by-window decode is stepped, not the audio cut, so the transcript is
the same as in one go.
Decoding is tuned for latency: greedy by default, a single temperature (no fallback
re-decodes), no conditioning on previous text, no VAD filter (clients send speech segments),
and a short encoder window for short segments (see ``_WindowedWhisper``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import ctranslate2
import numpy as np
from faster_whisper import WhisperModel
from faster_whisper.transcribe import Segment as WhisperSegment
from opentelemetry.context import Context

from voice_common.audio import PCM_SAMPLE_WIDTH, pcm16_to_float32, resample, trailing_silence_seconds
from voice_common.engine import PooledEngine
from voice_stt import metrics
from voice_stt.settings import MODEL_SAMPLE_RATE, STTSettings
from voice_stt.slots import DecodeSlots, Priority

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

    @classmethod
    def of(cls, segment: WhisperSegment) -> Segment:
        """Ours, from one of faster-whisper's segments."""
        return cls(segment.start, segment.end, segment.text.strip())


@dataclass(frozen=True)
class Transcript:
    text: str
    language: str
    audio_seconds: float
    segments: tuple[Segment, ...] = ()


def _finished(language: str, audio_seconds: float, segments: tuple[Segment, ...], decode_seconds: float) -> Transcript:
    """The transcript of a decode that ran, counted in the audio and real-time-factor metrics."""
    metrics.AUDIO_SECONDS.inc(audio_seconds)
    metrics.REAL_TIME_FACTOR.observe(decode_seconds / audio_seconds)
    return Transcript(" ".join(s.text for s in segments if s.text), language, audio_seconds, segments)


class _WindowByWindow:
    """Audio longer than one window, decoded in steps between which the slot is given back.

    Each ``step`` (in a worker thread) pulls faster-whisper's next segment: at most one window of
    work, plus any windows before it in which Whisper heard no speech (they yield no segment).
    """

    def __init__(self, language: str, audio_seconds: float, segments: Iterator[WhisperSegment]) -> None:
        self.language = language
        self.audio_seconds = audio_seconds
        self.done = False
        self._rest = segments
        self._segments: list[Segment] = []
        self._decode_seconds = 0.0  # time in the model, without the waits for a slot between steps

    def step(self) -> None:
        started = time.perf_counter()
        segment = next(self._rest, None)
        self._decode_seconds += time.perf_counter() - started
        if segment is None:
            self.done = True
        else:
            self._segments.append(Segment.of(segment))

    def transcript(self) -> Transcript:
        return _finished(self.language, self.audio_seconds, tuple(self._segments), self._decode_seconds)


class WhisperEngine(PooledEngine[Priority]):
    """The shared Whisper model (load, warm-up and slots in ``PooledEngine``): decodes by priority."""

    def __init__(self, settings: STTSettings) -> None:
        slots = DecodeSlots(settings.max_concurrent_transcriptions, settings.max_concurrent_uploads)
        super().__init__(slots, settings.warmup, logger, span_prefix="stt")
        self.settings = settings
        self._model: _WindowedWhisper | None = None

    def supports(self, language: str) -> bool:
        """Whether the loaded model knows ``language`` (an English-only model knows only "en")."""
        return self._model is not None and language in self._model.supported_languages

    @property
    def busy(self) -> bool:
        """True when a live decode would have to wait for a slot: optional work (partials) should not queue."""
        return not self.slots.available(Priority.LIVE)

    async def transcribe(
        self,
        pcm: bytes,
        sample_rate: int,
        language: str | None = None,
        timestamps: bool = False,
        priority: Priority = Priority.LIVE,
        trace: Context | None = None,
    ) -> Transcript:
        """Transcribe s16le mono PCM at ``sample_rate``; waits for a slot of ``priority``, never blocks the loop.
        With ``trace`` (a flush's span), the slot waits and model runs are spans beneath it."""
        language = language or self.settings.language
        held = {"stt.priority": priority.value}
        async with self.slot(priority, trace, **held):
            work = await self.infer(trace, self._begin, pcm, sample_rate, language, timestamps)
        if isinstance(work, Transcript):
            return work
        while not work.done:
            # One window per hold: between windows a waiting live decode gets the slot first.
            async with self.slot(priority, trace, **held):
                await self.infer(trace, work.step)
        return work.transcript()

    # -- the model's own parts ------------------------------------------------------------------
    def _describe(self) -> str:
        return f"{self.settings.model_path} on {self.settings.device}/{self.settings.compute_type}"

    async def _warm_up(self) -> None:
        """Decode a second of noise once per worker."""
        noise = np.random.default_rng(0).normal(0.0, 0.05, MODEL_SAMPLE_RATE).astype(np.float32)
        frames = self._window_frames(noise.size)
        language = self.settings.language
        await asyncio.gather(*(self.in_worker(self._decode, noise, language, False, frames) for _ in range(self.slots.total)))

    # -- worker threads -----------------------------------------------------------------------
    def _load(self) -> None:
        self._model = _WindowedWhisper(
            self.settings.model_path,
            device=self.settings.device,
            compute_type=self.settings.compute_type,
            cpu_threads=self.settings.cpu_threads,
            num_workers=self.settings.max_concurrent_transcriptions,
        )

    def _begin(self, pcm: bytes, sample_rate: int, language: str, timestamps: bool) -> Transcript | _WindowByWindow:
        """Silence and audio that fits a shortened window are done here; longer audio is stepped by the caller."""
        seconds = len(pcm) // PCM_SAMPLE_WIDTH / sample_rate
        if seconds == 0 or trailing_silence_seconds(pcm, sample_rate, self.settings.silence_threshold_dbfs) >= seconds:
            # Whisper invents text ("Thank you.") for silence; silence must come back empty, and fast.
            return Transcript("", language, seconds)
        audio = resample(pcm16_to_float32(pcm), sample_rate, MODEL_SAMPLE_RATE)
        frames = self._window_frames(audio.size)
        if frames is None:  # Whisper's full window: faster-whisper goes window by window, lazily
            return _WindowByWindow(language, seconds, self._segments(audio, language, timestamps))
        started = time.perf_counter()
        segments = self._infer(audio, language, timestamps, frames)
        return _finished(language, seconds, segments, time.perf_counter() - started)

    def _window_frames(self, samples: int) -> int | None:
        """The encoder window for audio of ``samples`` at 16 kHz: None = Whisper's full 30 s."""
        content = samples * FRAMES_PER_SECOND // MODEL_SAMPLE_RATE
        frames = max(round(self.settings.encoder_window_seconds * FRAMES_PER_SECOND), content + WINDOW_MARGIN_FRAMES)
        return frames if frames < FULL_WINDOW_FRAMES else None

    def _infer(self, audio: np.ndarray, language: str, timestamps: bool, frames: int) -> tuple[Segment, ...]:
        """Decode in a shortened window of ``frames``; again in the full window if that came back repetitive."""
        segments = self._decode(audio, language, timestamps, frames)
        if any(s.compression_ratio > DEGENERATE_COMPRESSION_RATIO for s in segments):
            logger.warning("repetitive decode in a %d-frame window; decoding again in the full window", frames)
            segments = self._decode(audio, language, timestamps, None)
        return tuple(Segment.of(s) for s in segments)

    def _decode(self, audio: np.ndarray, language: str, timestamps: bool, frames: int | None) -> list[WhisperSegment]:
        self._model.window.frames = frames
        try:
            return list(self._segments(audio, language, timestamps))  # the generator decodes here, inside the window
        finally:
            self._model.window.frames = None

    def _segments(self, audio: np.ndarray, language: str, timestamps: bool) -> Iterator[WhisperSegment]:
        """faster-whisper's lazy segments: features are computed now, each window is decoded when reached."""
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
        return segments
