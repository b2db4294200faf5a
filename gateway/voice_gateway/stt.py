"""Pipecat STT service speaking our STT server's streaming protocol (``WS /v1/listen``).

Only speech is sent: audio is kept in a short pre-roll ring while the caller is silent and
streamed from VAD start, so the server decodes the utterance and nothing else. The moment
VAD says the caller stopped, the service sends ``flush`` (the "flush trick") and the server
answers with the final transcript, which Pipecat's turn logic treats as finalized.

A pause is not always the end of the turn: the flush goes out at the VAD's short stop, while
the turn is still being confirmed. If the caller speaks again before the turn ends, the service
sends ``resume``: the server puts the flushed audio back in front of what follows and decodes
the whole utterance again, and its final is pushed as a ``RevisedTranscriptionFrame`` that
replaces the first guess ("What is the cap?") downstream instead of adding to it.

The STT stream is opened at the caller's first speech, not when the call connects: a caller
who says nothing holds no STT session, so silent connections cannot use up the STT servers'
capacity. Once the call has ended, no connection is opened or kept, even one that was still
being opened when the call ended (a caller hanging up at once used to leak one for good).
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import AsyncGenerator
from dataclasses import dataclass

from loguru import logger
from pipecat.frames.frames import (
    ErrorFrame,
    Frame,
    TranscriptionFrame,
    UserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.settings import STTSettings
from pipecat.services.stt_service import WebsocketSTTService
from pipecat.utils.time import time_now_iso8601
from pipecat.utils.tracing.service_decorators import traced_stt
from websockets.protocol import State

from voice_common.audio import PCM_SAMPLE_WIDTH
from voice_common.protocol.errors import ErrorEvent
from voice_common.protocol.stt import FinalMessage, FlushMessage, ReadyMessage, ResumeMessage, StartMessage
from voice_gateway.tracing import turn_traceparent
from voice_gateway.upstream import UpstreamErrorFrame


@dataclass
class RevisedTranscriptionFrame(TranscriptionFrame):
    """The whole utterance decoded again after a pause: replaces the turn's last transcript."""


class VoiceSTTService(WebsocketSTTService):
    """Streams the caller's speech to ``voice-stt`` and pushes its final transcripts."""

    def __init__(self, *, url: str, language: str, pre_roll_secs: float, connect_timeout: float, **kwargs) -> None:
        super().__init__(settings=STTSettings(model="whisper", language=language), ttfs_p99_latency=0.5, **kwargs)
        self._url = url
        self._language = language
        self._pre_roll_secs = pre_roll_secs
        self._connect_timeout = connect_timeout
        self._pre_roll: deque[bytes] = deque()
        self._pre_roll_bytes = 0
        self._speaking = False
        self._resumable = False  # flushed at a pause, and the turn has not ended since
        self._last_final_pushed = False  # the last final's text went downstream (a revision replaces it)
        self._call_ended = False
        self._connecting = asyncio.Lock()
        self._receive_task: asyncio.Task | None = None

    def can_generate_metrics(self) -> bool:
        return True

    async def stop(self, frame) -> None:
        self._call_ended = True
        await super().stop(frame)

    async def cancel(self, frame) -> None:
        self._call_ended = True
        await super().cancel(frame)

    async def cleanup(self) -> None:
        self._call_ended = True
        await super().cleanup()

    # -- audio path -------------------------------------------------------------------------
    async def run_stt(self, audio: bytes) -> AsyncGenerator[Frame | None, None]:
        if self._speaking:
            await self._send(audio)
        else:
            self._remember(audio)
        yield None

    def _remember(self, audio: bytes) -> None:
        """Keep the last ``pre_roll_secs`` of audio: VAD fires after speech has begun."""
        self._pre_roll.append(audio)
        self._pre_roll_bytes += len(audio)
        limit = int(self._pre_roll_secs * self.sample_rate) * PCM_SAMPLE_WIDTH
        while self._pre_roll and self._pre_roll_bytes - len(self._pre_roll[0]) >= limit:
            self._pre_roll_bytes -= len(self._pre_roll.popleft())

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, UserStoppedSpeakingFrame):
            self._resumable = False  # the turn ended: the next speech is a new utterance
        elif isinstance(frame, VADUserStartedSpeakingFrame) and not self._speaking:
            self._speaking = True
            await self._ensure_connected()
            if self._resumable:
                self._resumable = False
                await self._send_json(ResumeMessage().wire())
            if self._pre_roll:
                await self._send(b"".join(self._pre_roll))
            self._pre_roll.clear()
            self._pre_roll_bytes = 0
        elif isinstance(frame, VADUserStoppedSpeakingFrame) and self._speaking:
            self._speaking = False
            self.request_finalize()
            await self._send_json(FlushMessage(**turn_traceparent(self)).wire())  # the server's decode spans join the turn
            self._resumable = self._connected()

    async def _send(self, audio: bytes) -> None:
        if self._websocket is None or self._websocket.state is not State.OPEN:
            return  # the receive loop is reconnecting; the caller was told
        try:
            await self._websocket.send(audio)
        except Exception as exc:  # noqa: BLE001 - a dead socket is reported by the receive loop
            logger.warning(f"{self}: send failed: {exc}")

    async def _send_json(self, message: dict) -> None:
        if self._websocket is not None and self._websocket.state is State.OPEN:
            await self._websocket.send(json.dumps(message))

    # -- connection -------------------------------------------------------------------------
    def _connected(self) -> bool:
        return self._websocket is not None and self._websocket.state is State.OPEN

    async def _ensure_connected(self) -> None:
        """Open the stream for this call unless it is open or the call is over (frames wait meanwhile)."""
        async with self._connecting:
            if self._connected() or self._call_ended:
                return
            await self._connect()
            if self._call_ended:  # the caller hung up while the stream was being opened
                await self._disconnect()

    async def _connect(self) -> None:
        self._resumable = False  # a new stream has no flushed segment to go back to
        await self._connect_websocket()
        await super()._connect()
        if self._websocket is not None and (self._receive_task is None or self._receive_task.done()):
            self._receive_task = self.create_task(self._receive_task_handler(self._report_error))

    async def _report_error(self, error: ErrorFrame, force_treat_as_permanent: bool = False) -> None:
        """A lost STT server is never the end of the call: the stream is reopened at the caller's
        next speech. Pipecat gives up after three reconnect attempts (about 12 s) and would leave
        the service unusable, so a caller whose STT pod took longer to come back was never heard
        again, with no further error. The caller is told, with a code; the call goes on."""
        await self._report_unavailable(error.error)

    async def _report_unavailable(self, reason: str) -> None:
        await self.push_error_frame(UpstreamErrorFrame(error=reason, service="stt", code="stt_unavailable"))

    async def _disconnect(self) -> None:
        await super()._disconnect()
        if self._receive_task:
            await self.cancel_task(self._receive_task)
            self._receive_task = None
        await self._disconnect_websocket()

    async def _connect_websocket(self) -> None:
        if self._websocket and self._websocket.state is State.OPEN:
            return
        try:
            self._websocket = await asyncio.wait_for(self._websocket_connect(self._url), self._connect_timeout)
            await self._websocket.send(
                json.dumps(StartMessage(sample_rate=self.sample_rate, language=self._language).wire())
            )
            ready = json.loads(await asyncio.wait_for(self._websocket.recv(), self._connect_timeout))
            if ready.get("type") != ReadyMessage.type_name():
                raise ConnectionError(f"STT server refused the session: {ready}")
            await self._call_event_handler("on_connected")
        except Exception as exc:  # noqa: BLE001 - any failure means the STT is unavailable
            self._websocket = None
            await self._report_unavailable(f"STT server unavailable at {self._url}: {exc}")

    async def _disconnect_websocket(self) -> None:
        websocket, self._websocket = self._websocket, None
        if websocket is not None and websocket.state is State.OPEN:
            await websocket.close()

    async def _receive_messages(self) -> None:
        if self._websocket is None:
            raise ConnectionError("STT websocket is not connected")
        async for message in self._websocket:
            if isinstance(message, bytes):
                continue
            event = json.loads(message)
            if event.get("type") == FinalMessage.type_name():
                final = FinalMessage.read(event)
                await self._on_final(final.text.strip(), revises=final.revises is not None)
            elif event.get("type") == ErrorEvent.type_name():
                error = ErrorEvent.read(event)
                await self.push_error_frame(UpstreamErrorFrame(error=error.message, service="stt", code=f"stt_{error.code}"))

    async def _on_final(self, text: str, *, revises: bool) -> None:
        self.confirm_finalize()
        replaces = revises and self._last_final_pushed  # the guess this final revises went downstream
        self._last_final_pushed = bool(text) or replaces  # an empty revision leaves that guess standing
        if not text:
            await self.stop_ttfb_metrics()  # silence: nothing to answer, but the turn is measured
            return
        await self.emit_stt_usage_metrics()
        frame_type = RevisedTranscriptionFrame if replaces else TranscriptionFrame
        await self.push_frame(frame_type(text, self._user_id, time_now_iso8601(), finalized=True))
        await self._handle_transcription(text, True)

    @traced_stt
    async def _handle_transcription(self, transcript: str, is_final: bool, language=None) -> None:
        """Span hook: pipecat's tracing records the transcript and STT TTFB here."""
