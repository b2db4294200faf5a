"""Pipecat TTS service speaking our TTS server's WebSocket protocol (``WS /ws``).

One persistent connection per caller. Each sentence Pipecat hands over is sent as
``{"text", "config", "context_id"}`` and its PCM chunks are yielded as they arrive, so the
first audio of a reply plays while the LLM is still writing the rest. On barge-in the
synthesis in flight is cancelled on the server (``{"type": "cancel"}``, acknowledged with
``cancelled``), not just dropped here, so the TTS pod stops spending CPU/GPU on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator

from loguru import logger
from pipecat.frames.frames import Frame, TTSAudioRawFrame
from pipecat.services.settings import TTSSettings
from pipecat.services.tts_service import TTSService
from pipecat.utils.tracing.service_decorators import traced_tts
from websockets.asyncio.client import ClientConnection, connect
from websockets.protocol import State

from voice_common.protocol.constants import END_OF_SPEECH, TTS_SAMPLE_RATE
from voice_common.protocol.errors import ErrorEvent
from voice_common.protocol.tts import CancelledMessage, CancelMessage, SpeakConfig, SpeakMessage
from voice_gateway.phrasing import GrowingPhraseTextAggregator
from voice_gateway.tracing import tts_traceparent
from voice_gateway.upstream import UpstreamErrorFrame


class VoiceTTSService(TTSService):
    """Streams sentences to ``voice-tts`` and yields its 24 kHz PCM as it is synthesized."""

    def __init__(
        self, *, url: str, voice: str, speed: float, timeout_secs: float, first_phrase_max_words: int, **kwargs
    ) -> None:
        super().__init__(
            push_start_frame=True,
            push_stop_frames=True,
            # A context with no audio for this long is closed; a busy TTS pod can take seconds.
            stop_frame_timeout_s=timeout_secs,
            # run_tts reports every failure itself (tts_unavailable, tts_stream_failed); Pipecat's
            # default would write the service off for the whole call after 3 silent sentences, so
            # a TTS pod that restarts mid-call would leave the caller with a mute bot.
            max_consecutive_zero_audio_contexts=0,
            sample_rate=TTS_SAMPLE_RATE,
            settings=TTSSettings(model="kokoro", voice=voice, language="en"),
            **kwargs,
        )
        if first_phrase_max_words:  # 0: Pipecat's plain sentence aggregation
            self._text_aggregator = GrowingPhraseTextAggregator(max_words=first_phrase_max_words)
        self._url = url
        self._speed = speed
        self._timeout = timeout_secs
        self._websocket: ClientConnection | None = None
        self._in_flight: str | None = None  # context id being synthesized
        self._awaiting_cancel_ack = False
        self._call_ended = False  # no connection is opened or kept after this

    def can_generate_metrics(self) -> bool:
        return True

    async def _connection(self) -> ClientConnection:
        if self._websocket is None or self._websocket.state is not State.OPEN:
            websocket = await asyncio.wait_for(connect(self._url, max_size=None), self._timeout)
            if self._call_ended:  # the caller hung up while it was being opened: do not leak it
                await websocket.close()
                raise ConnectionError("the call has ended")
            self._websocket = websocket
            self._awaiting_cancel_ack = False
        elif self._awaiting_cancel_ack:
            await self._drain_until_cancelled(self._websocket)
        return self._websocket

    async def _drain_until_cancelled(self, websocket: ClientConnection) -> None:
        """Discard the cancelled synthesis's leftovers up to the server's ``cancelled`` ack."""
        try:
            async with asyncio.timeout(self._timeout):
                while True:
                    message = await websocket.recv()
                    cancelled = CancelledMessage.type_name()
                    if isinstance(message, str) and message.startswith("{") and json.loads(message).get("type") == cancelled:
                        break
        except (TimeoutError, Exception) as exc:  # noqa: BLE001 - a fresh connection fixes any state
            logger.warning(f"{self}: no cancel ack ({exc!r}); reconnecting")
            await self._drop_connection()
        self._awaiting_cancel_ack = False

    @traced_tts
    async def run_tts(self, text: str, context_id: str) -> AsyncGenerator[Frame | None, None]:
        try:
            websocket = await self._connection()
            if self._websocket is None:  # the drain gave up on the old socket
                websocket = await self._connection()
            await websocket.send(
                json.dumps(
                    SpeakMessage(
                        text=text,
                        config=SpeakConfig(voice=self._settings.voice, speed=self._speed),
                        context_id=context_id,
                        **tts_traceparent(self, context_id),  # the server's spans go under this reply's
                    ).wire()
                )
            )
        except Exception as exc:  # noqa: BLE001 - server down or refusing
            await self._drop_connection()
            if self._call_ended:
                return
            await self.push_error_frame(
                UpstreamErrorFrame(error=f"TTS server unavailable at {self._url}: {exc}", service="tts", code="tts_unavailable")
            )
            return
        self._in_flight = context_id
        try:
            while True:
                message = await asyncio.wait_for(websocket.recv(), self._timeout)
                if isinstance(message, bytes):
                    yield TTSAudioRawFrame(message, TTS_SAMPLE_RATE, 1, context_id=context_id)
                elif message == END_OF_SPEECH:
                    break
                else:
                    event = json.loads(message)
                    if event.get("type") == ErrorEvent.type_name():
                        error = ErrorEvent.read(event)
                        await self.push_error_frame(
                            UpstreamErrorFrame(error=error.message, service="tts", code=f"tts_{error.code}")
                        )
                        break
        except asyncio.CancelledError:
            await self._cancel_in_flight()
            raise
        except Exception as exc:  # noqa: BLE001 - died or stalled mid-sentence: tell the caller, keep the session
            await self._drop_connection()
            await self.push_error_frame(
                UpstreamErrorFrame(error=f"TTS stream failed: {exc!r}", service="tts", code="tts_stream_failed")
            )
        finally:
            if self._in_flight == context_id:
                self._in_flight = None

    async def on_audio_context_interrupted(self, context_id: str) -> None:
        await super().on_audio_context_interrupted(context_id)
        await self._cancel_in_flight()

    async def _cancel_in_flight(self) -> None:
        """Tell the server to stop the synthesis in flight (barge-in); its ack is drained later."""
        if self._in_flight is None or self._awaiting_cancel_ack:
            return
        self._in_flight = None
        websocket = self._websocket
        if websocket is None or websocket.state is not State.OPEN:
            return
        try:
            await websocket.send(json.dumps(CancelMessage().wire()))
            self._awaiting_cancel_ack = True
        except Exception as exc:  # noqa: BLE001 - a barge-in must not fail on a broken socket: a fresh one replaces it
            logger.warning(f"{self}: could not send cancel: {exc!r}")
            await self._drop_connection()

    async def stop(self, frame) -> None:
        await super().stop(frame)
        await self._close()

    async def cancel(self, frame) -> None:
        await super().cancel(frame)
        await self._close()

    async def _close(self) -> None:
        self._call_ended = True
        await self._drop_connection()

    async def _drop_connection(self) -> None:
        """Close the connection for good; the next sentence opens a fresh one. A connection that
        is only forgotten (a stalled server: the receive timed out) stays open on both ends for
        as long as the process lives."""
        websocket, self._websocket = self._websocket, None
        if websocket is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(websocket.close(), self._timeout)
