"""Pipecat TTS service speaking our TTS server's WebSocket protocol (``WS /ws``).

One persistent connection per caller, on Pipecat's ``WebsocketTTSService``: each phrase Pipecat
hands over is sent at once as ``{"text", "config", "context_id", "traceparent"}`` (the server
queues them in order), and a receive task puts each reply into the audio context of the phrase
it answers (voice_gateway.tts_phrases), so the first audio of a reply plays while the LLM is
still writing the rest. Pipecat drops the audio of an interrupted context; on barge-in the
synthesis is also cancelled on the server (``{"type": "cancel"}``, acknowledged with
``cancelled``), so the TTS pod stops spending CPU/GPU on it.

A failure is reported to the caller with a code (``tts_unavailable``, ``tts_stream_failed``,
``tts_<server code>``) and ends only the phrases it hit: the next phrase opens a new connection
(not Pipecat's background reconnects, whose seconds of backoff would only delay telling the
caller), so a TTS pod that restarts mid-call leaves the call speaking again once it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncGenerator

from loguru import logger
from pipecat.frames.frames import Frame, TTSAudioRawFrame
from pipecat.services.settings import TTSSettings
from pipecat.services.tts_service import WebsocketTTSService
from pipecat.utils.tracing.service_decorators import traced_tts
from websockets.protocol import State

from voice_common.protocol.constants import END_OF_SPEECH, TTS_SAMPLE_RATE
from voice_common.protocol.errors import ErrorEvent
from voice_common.protocol.tts import CancelledMessage, CancelMessage, SpeakConfig, SpeakMessage
from voice_gateway.phrasing import DEFAULT_EXPECTED_RTF, GrowingPhraseTextAggregator
from voice_gateway.tracing import tts_traceparent
from voice_gateway.tts_phrases import SentPhrases
from voice_gateway.upstream import UpstreamErrorFrame


class VoiceTTSService(WebsocketTTSService):
    """Streams phrases to ``voice-tts`` and routes its 24 kHz PCM to their audio contexts."""

    def __init__(
        self,
        *,
        url: str,
        voice: str,
        speed: float,
        timeout_secs: float,
        first_phrase_max_words: int,
        expected_rtf: float = DEFAULT_EXPECTED_RTF,
        **kwargs,
    ) -> None:
        super().__init__(
            push_start_frame=True,
            push_stop_frames=True,
            # A context with no audio for this long is closed; a busy TTS pod can take seconds.
            stop_frame_timeout_s=timeout_secs,
            # Failures are reported with their codes here; Pipecat's default would write the service
            # off for the whole call after 3 silent contexts, so a TTS pod that restarts mid-call
            # would leave the caller with a mute bot.
            max_consecutive_zero_audio_contexts=0,
            sample_rate=TTS_SAMPLE_RATE,
            settings=TTSSettings(model="kokoro", voice=voice, language="en"),
            **kwargs,
        )
        if first_phrase_max_words:  # 0: Pipecat's plain sentence aggregation
            self._text_aggregator = GrowingPhraseTextAggregator(max_words=first_phrase_max_words, expected_rtf=expected_rtf)
        self._url = url
        self._speed = speed
        self._timeout = timeout_secs
        self._phrases = SentPhrases()
        self._receive_task: asyncio.Task | None = None
        self._progress_at = 0.0  # last phrase sent or reply received: a server silent longer has stalled
        self._call_ended = False  # no connection is opened or kept after this

    def can_generate_metrics(self) -> bool:
        return True

    @traced_tts
    async def run_tts(self, text: str, context_id: str) -> AsyncGenerator[Frame | None, None]:
        message = SpeakMessage(
            text=text,
            config=SpeakConfig(voice=self._settings.voice, speed=self._speed),
            context_id=context_id,
            **tts_traceparent(self, context_id),  # the server's spans go under this reply's
        )
        try:
            if self._websocket is not None and self._websocket.state is not State.OPEN:
                await self._lose_connection("the TTS server closed the connection")
            if self._websocket is None:
                await self._connect()
            if not self._phrases.waiting():
                self._progress_at = time.monotonic()
            self._phrases.sent(context_id)
            await self._websocket.send(json.dumps(message.wire()))
        except Exception as exc:  # noqa: BLE001 - server down or refusing
            await self._drop_connection()
            if not self._call_ended:
                error = f"TTS server unavailable at {self._url}: {exc}"
                await self.push_error_frame(UpstreamErrorFrame(error=error, service="tts", code="tts_unavailable"))
            return
        yield None  # its audio comes through the receive task

    async def flush_audio(self, context_id: str | None = None) -> None:
        """The turn has no more phrases: its context closes once the server has answered them all."""
        if context_id is not None and self._phrases.flushed(context_id):
            await self._close_complete(context_id)

    async def on_audio_context_interrupted(self, context_id: str) -> None:
        """Barge-in: stop the server's synthesis of everything sent so far (its ack comes later)."""
        await super().on_audio_context_interrupted(context_id)
        if self._websocket is None or not self._phrases.cancel_sent():
            return
        try:
            await self._websocket.send(json.dumps(CancelMessage().wire()))
        except Exception as exc:  # noqa: BLE001 - a barge-in must not fail on a broken socket: a fresh one replaces it
            logger.warning(f"{self}: could not send cancel: {exc!r}")
            await self._drop_connection()

    async def _connect(self) -> None:
        await super()._connect()
        await self._connect_websocket()
        self._receive_task = self.create_task(self._receive_messages(), name="tts-replies")

    async def _connect_websocket(self) -> None:
        websocket = await asyncio.wait_for(self._websocket_connect(self._url, max_size=None), self._timeout)
        if self._call_ended:  # the caller hung up while it was being opened: do not leak it
            await websocket.close()
            raise ConnectionError("the call has ended")
        self._websocket = websocket

    async def _receive_messages(self) -> None:
        """Route the server's replies until the connection closes or stalls with a reply due."""
        websocket = self._websocket
        try:
            while True:
                try:
                    message = await asyncio.wait_for(websocket.recv(), self._timeout / 2)
                except TimeoutError:
                    if self._phrases.waiting() and time.monotonic() - self._progress_at > self._timeout:
                        raise TimeoutError(f"no reply from the TTS server for {self._timeout:g} s") from None
                    continue
                self._progress_at = time.monotonic()
                await self._on_reply(message)
        except Exception as exc:  # noqa: BLE001 - died, stalled or garbled: tell the caller, keep the session
            if websocket is self._websocket:  # else already dropped
                self._receive_task = None  # this task is ending; it must not cancel itself
                await self._lose_connection(repr(exc))

    async def _on_reply(self, message: str | bytes) -> None:
        if isinstance(message, bytes):
            context_id = self._phrases.speaking()
            if context_id is not None:  # an interrupted context's audio is dropped by Pipecat
                audio = TTSAudioRawFrame(message, TTS_SAMPLE_RATE, 1, context_id=context_id)
                await self.append_to_audio_context(context_id, audio)
            return
        if message == END_OF_SPEECH:
            await self._close_complete(self._phrases.answered())
            return
        event = json.loads(message)
        if event.get("type") == CancelledMessage.type_name():
            self._phrases.cancelled()
        elif event.get("type") == ErrorEvent.type_name():
            error = ErrorEvent.read(event)
            await self.push_error_frame(UpstreamErrorFrame(error=error.message, service="tts", code=f"tts_{error.code}"))
            # A text's error comes in place of its audio and END, naming its context: answering
            # that phrase at once keeps the reply's count of phrases, and the queue behind it, right.
            await self._close_complete(self._phrases.failed(error.context_id))

    async def _close_complete(self, context_id: str | None) -> None:
        """Close the audio context the bookkeeping found complete (None: none is); an interrupted
        one is gone already."""
        if context_id is not None and self.audio_context_available(context_id):
            await self.remove_audio_context(context_id)

    async def _disconnect(self) -> None:
        """The call is over (stop, cancel, cleanup): close for good."""
        self._call_ended = True
        self._phrases.clear()  # Pipecat's disconnect closes every context
        await super()._disconnect()
        await self._drop_connection()

    async def _disconnect_websocket(self) -> None:
        """Pipecat's hook for its own reconnects, which this service leaves to the next phrase."""
        await self._drop_connection()

    async def _lose_connection(self, reason: str) -> None:
        """The connection died or stalled: if a reply was due, the caller hears of it."""
        failed_mid_reply = self._phrases.waiting()
        await self._drop_connection()
        if failed_mid_reply and not self._call_ended:  # an idle connection closing costs the caller nothing
            failure = UpstreamErrorFrame(error=f"TTS stream failed: {reason}", service="tts", code="tts_stream_failed")
            await self.push_error_frame(failure)

    async def _drop_connection(self) -> None:
        """Close the connection; its unanswered phrases end with the audio that came. A connection
        that is only forgotten (a stalled server) would stay open on both ends for as long as the
        process lives."""
        # Forget it before the first await, so that a phrase sent meanwhile goes to a new connection.
        task, self._receive_task = self._receive_task, None
        websocket, self._websocket = self._websocket, None
        unanswered = self._phrases.waiting()
        self._phrases.clear()
        if task is not None and task is not asyncio.current_task():
            await self.cancel_task(task)
        if unanswered:
            await self._close_connection_contexts()
        if websocket is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(websocket.close(), self._timeout)
