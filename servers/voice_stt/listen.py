"""One ``WS /v1/listen`` session: the streaming protocol the gateway speaks (docs/protocols.md).

The session buffers the caller's PCM (resampled to 16 kHz when declared at another rate) and
transcribes it when the client says ``flush`` — the instant its VAD decides the caller stopped —
so the reply is the final transcript of exactly that utterance. Every message gets an answer:
``final`` with empty text on silence, an ``error`` event with a stable code on bad input.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from voice_common.audio import pcm16_to_float32, resample
from voice_common.ops import error_event
from voice_stt import metrics
from voice_stt.engine import SAMPLE_RATE, WhisperEngine
from voice_stt.settings import STTSettings

MIN_RATE, MAX_RATE = 8000, 48000
CLOSE_MESSAGE_TOO_BIG = 1009

Send = Callable[[dict], Awaitable[None]]


@dataclass
class Outcome:
    """What the transport must do after a message: nothing, or close with a code."""

    close_code: int | None = None


class ListenSession:
    def __init__(self, engine: WhisperEngine, settings: STTSettings, send: Send) -> None:
        self.engine = engine
        self.settings = settings
        self.send = send
        self.session_id = uuid.uuid4().hex
        self.started = False
        self.sample_rate = SAMPLE_RATE
        self.language = settings.language
        self.interim = False
        self.segment = 0
        self._pcm = bytearray()
        self._partial_at_bytes = 0
        self._partial_task: asyncio.Task | None = None

    async def _error(self, code: str, message: str) -> None:
        metrics.ERRORS.labels(code=code).inc()
        await self.send(error_event(code, message))

    # -- control messages ---------------------------------------------------------------------
    async def on_text(self, text: str) -> Outcome:
        try:
            message = json.loads(text)
        except json.JSONDecodeError:
            await self._error("invalid_json", "text frames must be JSON control messages; send audio as binary")
            return Outcome()
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            await self._error("bad_message", 'control messages are JSON objects with a string "type"')
            return Outcome()
        handler = {"start": self._start, "flush": self._flush, "reset": self._reset, "stop": self._stop}.get(message["type"])
        if handler is None:
            await self._error("unknown_type", f"unknown message type {message['type']!r}; expected start, flush, reset or stop")
            return Outcome()
        if message["type"] != "start" and not self.started:
            await self._error("not_started", 'send {"type": "start"} first')
            return Outcome()
        return await handler(message)

    async def _start(self, message: dict) -> Outcome:
        if self.started:
            await self._error("already_started", "this session has already started")
            return Outcome()
        rate = message.get("sample_rate", SAMPLE_RATE)
        if not isinstance(rate, int) or not MIN_RATE <= rate <= MAX_RATE:
            await self._error("unsupported_sample_rate", f"sample_rate must be an integer from {MIN_RATE} to {MAX_RATE} Hz")
            return Outcome()
        self.sample_rate = rate
        self.language = message.get("language") or self.settings.language
        self.interim = bool(message.get("interim_results", False))
        self.started = True
        await self.send({"type": "ready", "session_id": self.session_id, "sample_rate": SAMPLE_RATE})
        return Outcome()

    async def _flush(self, _message: dict) -> Outcome:
        asked_at = time.perf_counter()
        if self._partial_task is not None:
            self._partial_task.cancel()  # its result would be stale; the final supersedes it
            self._partial_task = None
        audio = self._audio16k()
        self._clear()
        try:
            result = await self.engine.transcribe(audio, self.language)
        except Exception as exc:  # noqa: BLE001 - a failed decode must not end the session
            await self._error("transcription_failed", f"transcription failed: {exc}")
            return Outcome()
        latency = time.perf_counter() - asked_at
        metrics.REQUEST_LATENCY.labels(endpoint="listen").observe(latency)
        await self.send(
            {
                "type": "final",
                "text": result.text,
                "segment": self.segment,
                "audio_ms": round(result.audio_seconds * 1000),
                "latency_ms": round(latency * 1000, 1),
            }
        )
        self.segment += 1
        return Outcome()

    async def _reset(self, _message: dict) -> Outcome:
        self._clear()
        return Outcome()

    async def _stop(self, message: dict) -> Outcome:
        if self._pcm:
            await self._flush(message)
        return Outcome(close_code=1000)

    # -- audio --------------------------------------------------------------------------------
    async def on_audio(self, data: bytes) -> Outcome:
        if len(data) > self.settings.max_frame_bytes:
            await self._error("frame_too_large", f"audio frames may hold at most {self.settings.max_frame_bytes} bytes")
            return Outcome(close_code=CLOSE_MESSAGE_TOO_BIG)
        if not self.started:
            await self._error("not_started", 'send {"type": "start"} before audio')
            return Outcome()
        if len(data) % 2:
            await self._error("odd_length_frame", "PCM s16le frames must hold an even number of bytes")
            return Outcome()
        limit = int(self.settings.max_utterance_seconds * self.sample_rate) * 2
        if len(self._pcm) + len(data) > limit:
            await self._error(
                "utterance_too_long",
                f"more than {self.settings.max_utterance_seconds:.0f} s without a flush; the buffered audio was dropped",
            )
            self._clear()
            return Outcome()
        self._pcm.extend(data)
        self._maybe_partial()
        return Outcome()

    def _maybe_partial(self) -> None:
        interval_bytes = int(self.settings.interim_interval_seconds * self.sample_rate) * 2
        if not self.interim or self._partial_task is not None or len(self._pcm) - self._partial_at_bytes < interval_bytes:
            return
        self._partial_at_bytes = len(self._pcm)
        self._partial_task = asyncio.create_task(self._partial(self._audio16k()))

    async def _partial(self, audio) -> None:
        try:
            result = await self.engine.transcribe(audio, self.language)
            await self.send({"type": "partial", "text": result.text, "segment": self.segment})
        finally:
            self._partial_task = None

    def _audio16k(self):
        return resample(pcm16_to_float32(bytes(self._pcm)), self.sample_rate, SAMPLE_RATE)

    def _clear(self) -> None:
        self._pcm.clear()
        self._partial_at_bytes = 0

    def close(self) -> None:
        if self._partial_task is not None:
            self._partial_task.cancel()
