"""One ``WS /ws`` session: the seed's Kokoro protocol plus ``cancel`` for barge-in.

A reader task takes messages as they come, so a ``cancel`` reaches the synthesis in flight
while its audio is still streaming; a worker task synthesizes texts one at a time, in order.
A cancel terminates the model run in flight and is acknowledged (``cancelled``) at once, even
when nothing was running; no audio of the cancelled texts follows the ack (pieces are sent under
the same lock, after checking the job), so a client can wait for the ack and play what comes next.

A message that starts with ``{`` is JSON and must be a valid request object (otherwise an error
event says why); any other text is spoken as it is (the seed's plain-text clients). An error
about one request echoes its ``context_id``, so a client knows which text failed. Bad input
never ends the session; an unexpected failure does, visibly: ``internal_error`` and close 1011.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass, field

from fastapi import WebSocket, WebSocketDisconnect
from opentelemetry.context import Context

from voice_common import tracing
from voice_common.protocol.constants import CLOSE_INTERNAL_ERROR, END_OF_SPEECH
from voice_common.protocol.errors import ApiError, error_event
from voice_common.protocol.parsing import MessageError, parse_json_object
from voice_common.protocol.tts import CancelledMessage, CancelMessage
from voice_tts import metrics
from voice_tts.engine import KokoroEngine, Synthesis, SynthesisError
from voice_tts.requests import SpeakRequest, validated
from voice_tts.tracing import synthesize_span

logger = logging.getLogger("voice_tts")


@dataclass
class Job:
    text: str
    voice: str
    speed: float
    context_id: str | None
    trace: Context | None = None  # the gateway's span this synthesis belongs to (its traceparent)
    received_at: float = field(default_factory=time.perf_counter)
    received_wall: float = field(default_factory=time.time)  # span times are wall-clock
    synthesis: Synthesis = field(default_factory=Synthesis)


class SpeechSession:
    """One ``WS /ws`` connection (admitted by ``voice_common.sessions``): a reader and a worker task."""

    endpoint = "ws"

    def __init__(self, websocket: WebSocket, engine: KokoroEngine) -> None:
        self.websocket = websocket
        self.engine = engine
        self.jobs: asyncio.Queue[Job] = asyncio.Queue()
        self.current: Job | None = None
        self._send_lock = asyncio.Lock()

    async def send(self, data: str | bytes | dict, job: Job | None = None) -> None:
        """Send one message; with ``job``, only if that job is still wanted (never after its ack)."""
        async with self._send_lock:
            if job is not None and job.synthesis.cancelled:
                return
            if isinstance(data, bytes):
                await self.websocket.send_bytes(data)
            elif isinstance(data, dict):
                # ASCII JSON: a client's string echoed back (a context_id) may hold a lone
                # surrogate, which is valid JSON but cannot be encoded as UTF-8.
                await self.websocket.send_text(json.dumps(data))
            else:
                await self.websocket.send_text(data)

    async def run(self) -> None:
        """Read and speak until the client leaves; a task that fails unexpectedly ends the session
        with ``internal_error`` and a close frame (1011), never a silent drop."""
        tasks = {asyncio.create_task(self._read()), asyncio.create_task(self._work())}
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            # asyncio.wait, not gather: if this task is cancelled meanwhile (server shutdown), gather
            # would raise a child's CancelledError in place of this task's own, which the canceller
            # (an anyio cancel scope) then fails to recognise and lets escape.
            await asyncio.wait(tasks)
        failures = [task.exception() for task in tasks if not task.cancelled() and task.exception() is not None]
        # A send to a client that has gone raises WebSocketDisconnect: that is the session's end, not a failure.
        if not failures or any(isinstance(failure, WebSocketDisconnect) for failure in failures):
            return
        logger.error("WebSocket session failed", exc_info=failures[0])
        with contextlib.suppress(Exception):  # the connection itself may be what failed
            await self.report("internal_error", "the session failed on the server; reconnect", CLOSE_INTERNAL_ERROR)

    async def _read(self) -> None:
        try:
            while True:
                message = await self.websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                if message.get("text") is None:
                    await self.report("expected_text", "send text or JSON messages; this server sends the audio")
                    continue
                await self._on_text(message["text"])
        except WebSocketDisconnect:
            return

    async def _on_text(self, text: str) -> None:
        # Only an object is a JSON request: other text, even a JSON array or number, is words to say.
        if not text.lstrip().startswith("{"):
            message: dict = {"text": text}  # plain text is a synthesis request (seed clients)
        else:
            try:
                message = parse_json_object(text, self.engine.settings.ws_max_message_bytes)
            except MessageError as exc:
                await self.report(exc.code, exc.message)
                return
        if message.get("type") == CancelMessage.type_name():
            await self._cancel()
            return
        # Every error about this request names its context_id: one refused here is reported ahead
        # of the texts still queued before it, so a client cannot tell by order which text failed.
        context_id = message.get("context_id")
        if not isinstance(context_id, str | None):
            await self.report("bad_message", '"context_id" must be a string', param="context_id")
            return
        if message.get("type") not in (None, "speak"):
            unknown = f"unknown message type {str(message['type'])[:40]!r}; expected speak or cancel"
            await self.report("unknown_type", unknown, context_id=context_id)
            return
        config = message.get("config") or {}
        if not isinstance(config, dict):
            await self.report("bad_message", '"config" must be an object', context_id=context_id)
            return
        try:
            request = validated(SpeakRequest, {"text": message.get("text"), "config": config}, self.engine.limits)
        except ApiError as exc:
            await self.report(exc.code, exc.message, param=exc.param, context_id=context_id)
            return
        parent = tracing.remote_parent(message.get(tracing.TRACEPARENT))
        job = Job(request.text, request.config.voice, request.config.speed, context_id, parent)
        await self.jobs.put(job)

    async def _cancel(self) -> None:
        stopped = []
        while not self.jobs.empty():
            stopped.append(self.jobs.get_nowait())
        if self.current is not None and not self.current.synthesis.cancelled:
            stopped.insert(0, self.current)
        for job in stopped:
            job.synthesis.cancel()
        if stopped:
            metrics.CANCELLATIONS.inc()
        await self.send(CancelledMessage(context_id=stopped[0].context_id if stopped else None).wire())

    async def _work(self) -> None:
        while True:
            job = await self.jobs.get()
            self.current = job
            try:
                await self._speak(job)
            finally:
                self.current = None

    async def _speak(self, job: Job) -> None:
        # One span per text, from its arrival (so it holds the wait behind this session's earlier
        # texts) to its last audio; the engine's chunk and slot-wait spans go beneath it.
        span = synthesize_span(job.trace, job.received_wall, job.context_id, job.text, job.voice)
        first_audio_s = error = None
        try:
            stream = self.engine.stream(job.text, job.voice, job.speed, job.synthesis, trace=tracing.child_context(span))
            async with contextlib.aclosing(stream) as pieces:
                async for piece in pieces:
                    if first_audio_s is None:
                        first_audio_s = time.perf_counter() - job.received_at
                        metrics.TTFB.labels(endpoint="ws").observe(first_audio_s)
                    await self.send(piece, job)
        except ApiError as exc:  # unspeakable_input: found by the phonemizer, before any audio
            error = exc.code
            await self.report(exc.code, exc.message, param="text", context_id=job.context_id)  # "text": this protocol's input
            return
        except SynthesisError as exc:  # one failed text must not end the session
            error = "synthesis_failed"
            logger.exception("synthesis failed")
            await self.report("synthesis_failed", f"synthesis failed: {exc}", context_id=job.context_id)
            return
        finally:
            ended = {"tts.first_audio_seconds": first_audio_s, "tts.cancelled": job.synthesis.cancelled, "error.type": error}
            tracing.end_span(span, **ended)
        await self.send(END_OF_SPEECH, job)  # a cancelled job was acknowledged already

    async def report(self, code: str, message: str, close_code: int | None = None, **extra: object) -> None:
        """Send the error event (counted by code); then close with ``close_code`` if given."""
        metrics.ERRORS.labels(code=code).inc()
        await self.send(error_event(code, message, **extra))
        if close_code is not None:
            await self.websocket.close(close_code)
