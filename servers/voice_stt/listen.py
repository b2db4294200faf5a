"""``WS /v1/listen``: the streaming session the gateway speaks (see docs/stt.md for the protocol).

State machine: ``start`` (declares rate, language, interim results) -> binary PCM frames
accumulate in the current segment -> ``flush`` decodes the segment once, answers ``final``
(empty text on silence, never no reply) and opens the next segment. Audio is kept at the
declared rate and resampled to 16 kHz once per decode, so there are no chunk-boundary
artifacts from resampling small frames one by one.

``resume`` says the caller went on after a flush that turned out not to end their turn (the
gateway flushes at the first short pause, to decode while the end of the turn is confirmed): the
last flushed segment's audio is put back in front of the current one, so the next ``final``
decodes the whole utterance in one piece and says it ``revises`` that segment. A word cut in two
by a pause ("cap" ... "ital") is heard whole instead of as two guesses.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

from fastapi import WebSocket
from pydantic import ValidationError

from voice_common import tracing
from voice_common.audio import PCM_SAMPLE_WIDTH
from voice_common.protocol.constants import CLOSE_MESSAGE_TOO_BIG, CLOSE_NORMAL
from voice_common.protocol.parsing import MessageError, parse_json_object
from voice_common.protocol.stt import (
    FinalMessage,
    FlushMessage,
    PartialMessage,
    ReadyMessage,
    ResetMessage,
    ResumeMessage,
    StartMessage,
    StopMessage,
)
from voice_stt import metrics
from voice_stt.engine import WhisperEngine
from voice_stt.settings import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE, MODEL_SAMPLE_RATE, STTSettings
from voice_stt.tracing import decode_span
from voice_stt.ws import WireSession

logger = logging.getLogger("voice_stt")


class ListenSession(WireSession):
    endpoint = "listen"

    def __init__(self, websocket: WebSocket, engine: WhisperEngine, settings: STTSettings) -> None:
        super().__init__(websocket)
        self.engine = engine
        self.settings = settings
        self.session_id = uuid.uuid4().hex
        self.started = False
        self.sample_rate = MODEL_SAMPLE_RATE
        self.language = settings.language
        self.segment = 0
        self._audio = bytearray()
        self._flushed: tuple[int, bytes] | None = None  # (segment, audio) of the last flush, for resume
        self._revises: int | None = None  # the flushed segment that the current one continues
        self._epoch = 0  # bumped whenever the buffer is emptied (flush, reset): stale partials are dropped
        self._truncated = False  # utterance_too_long already reported for this segment
        self._partials: asyncio.Task | None = None

    # -- control messages ---------------------------------------------------------------------
    async def on_text(self, text: str) -> None:
        try:
            message = parse_json_object(text)
        except MessageError as exc:  # not JSON, hostile JSON (deep, huge numbers), too large, not an object
            await self.report(exc.code, f"text frames are JSON control messages: {exc.message}")
            return
        if not isinstance(message.get("type"), str):
            await self.report("bad_message", 'expected a JSON object with a string "type"')
            return
        kind = message["type"]
        start, stop = StartMessage.type_name(), StopMessage.type_name()
        handlers = {
            start: self._start,
            FlushMessage.type_name(): self._flush,
            ResumeMessage.type_name(): self._resume,
            ResetMessage.type_name(): self._reset,
            stop: self._stop,
        }
        if kind not in handlers:
            await self.report("unknown_type", f"unknown message type {kind!r}; expected one of {sorted(handlers)}")
        elif kind == start and self.started:
            await self.report("already_started", "this session has already started")
        elif kind == stop and not self.started:
            await self.close(CLOSE_NORMAL)  # nothing to flush
        elif kind != start and not self.started:
            await self.report("not_started", f'send {{"type": "start"}} before {kind!r}')
        else:
            await handlers[kind](message)

    async def _start(self, message: dict) -> None:
        try:
            start = StartMessage.model_validate(message)
        except ValidationError as exc:
            problem = exc.errors()[0]
            field = ".".join(str(part) for part in problem["loc"])
            await self.report("bad_message", f"start.{field}: {problem['msg']}")
            return
        if not MIN_SAMPLE_RATE <= start.sample_rate <= MAX_SAMPLE_RATE:
            await self.report(
                "unsupported_sample_rate",
                f"sample_rate {start.sample_rate} is outside {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz",
            )
            return
        language = start.language or self.settings.language
        if not self.engine.supports(language):
            await self.report("bad_message", f"start.language: the model does not know language {language!r}")
            return
        self.started, self.sample_rate, self.language = True, start.sample_rate, language
        if start.interim_results:
            self._partials = asyncio.create_task(self._partial_loop())
        await self.send_json(ReadyMessage(session_id=self.session_id, sample_rate=self.sample_rate).wire())

    async def _flush(self, message: dict | None = None) -> None:
        """Decode the segment now (the client's VAD says the caller stopped) and start the next one."""
        received = time.perf_counter()
        pcm, segment, revises = bytes(self._audio), self.segment, self._revises
        self._clear()
        self._flushed = (segment, pcm)
        self.segment += 1
        span = decode_span(message, segment, len(pcm), self.sample_rate)  # None unless the flush carried a traceparent
        try:
            transcript = await self.engine.transcribe(pcm, self.sample_rate, self.language, trace=tracing.child_context(span))
        except Exception as exc:  # any decoder failure is reported, the session goes on
            tracing.end_span(span, **{"error.type": "transcription_failed"})
            logger.exception("decode failed (session %s, segment %d)", self.session_id, segment)
            await self.report("transcription_failed", f"could not transcribe segment {segment}: {exc}", segment=segment)
            return
        latency = time.perf_counter() - received
        metrics.REQUEST_LATENCY.labels(endpoint=self.endpoint).observe(latency)
        final = FinalMessage(
            text=transcript.text,
            segment=segment,
            audio_ms=round(transcript.audio_seconds * 1000),
            latency_ms=round(latency * 1000),
            **({} if revises is None else {"revises": revises}),  # only a continued segment says what it revises
        )
        tracing.end_span(span, **{"stt.characters": len(transcript.text)})
        await self.send_json(final.wire())

    async def _resume(self, _message: dict) -> None:
        """Put the last flushed segment back in front of the current one (the caller went on)."""
        if self._flushed is None:
            await self.report("nothing_to_resume", "resume continues the last flushed segment; there is none")
            return
        segment, pcm = self._flushed
        self._flushed = None
        limit = self.settings.utterance_bytes(self.sample_rate)
        self._audio = bytearray((pcm + bytes(self._audio))[:limit])
        self._revises = segment
        self._epoch += 1  # a partial decoded before the resume no longer describes the segment

    async def _reset(self, _message: dict) -> None:
        self._clear()
        self._flushed = None

    def _clear(self) -> None:
        self._audio.clear()
        self._revises = None
        self._epoch += 1
        self._truncated = False

    async def _stop(self, message: dict) -> None:
        await self._flush(message)
        await self.close(CLOSE_NORMAL)

    # -- audio -----------------------------------------------------------------------------
    async def on_audio(self, frame: bytes) -> None:
        if len(frame) > self.settings.max_frame_bytes:
            await self.report(
                "frame_too_large",
                f"binary frames are limited to {self.settings.max_frame_bytes} bytes, got {len(frame)}",
                CLOSE_MESSAGE_TOO_BIG,
            )
        elif not self.started:
            await self.report("not_started", 'send {"type": "start"} before audio')
        elif len(frame) % PCM_SAMPLE_WIDTH:
            await self.report("odd_length_frame", f"PCM s16le frames hold whole samples; got {len(frame)} bytes")
        else:
            await self._append(frame)

    async def _append(self, frame: bytes) -> None:
        room = self.settings.utterance_bytes(self.sample_rate) - len(self._audio)
        if len(frame) > room and not self._truncated:
            self._truncated = True
            await self.report(
                "utterance_too_long",
                f"segments are limited to {self.settings.max_utterance_seconds:g} s; "
                "audio past it is dropped until the next flush",
                segment=self.segment,
            )
        self._audio += frame[: max(room, 0)]

    # -- interim results -----------------------------------------------------------------------
    async def _partial_loop(self) -> None:
        """Every interval, decode the segment so far if it grew and a decode slot is free.

        Partials are best effort: they never queue behind another decode, and one that lands
        after its audio was flushed or reset is dropped, so a partial never follows its final.
        """
        decoded = (-1, 0)  # (epoch, bytes) of the last partial decode
        last_text = ""
        while True:
            await asyncio.sleep(self.settings.interim_interval_secs)
            epoch, segment, pcm = self._epoch, self.segment, bytes(self._audio)
            if not pcm or decoded == (epoch, len(pcm)) or self.engine.busy:
                continue
            decoded = (epoch, len(pcm))
            try:
                transcript = await self.engine.transcribe(pcm, self.sample_rate, self.language)
            except Exception:  # a failed partial is not worth an error; the final reports
                logger.exception("partial decode failed (session %s)", self.session_id)
                continue
            if epoch == self._epoch and transcript.text and transcript.text != last_text:
                last_text = transcript.text
                await self.send_json(PartialMessage(text=transcript.text, segment=segment).wire())

    async def finish(self) -> None:
        if self._partials is not None:
            self._partials.cancel()
