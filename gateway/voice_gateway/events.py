"""Tells the caller what is happening in its session, as the protocol's JSON events.

An observer sees every frame pushed between processors, including the transcript the user
aggregator consumes, so the caller hears about each happening without a processor on the
pipeline's hot path. The per-turn measurements are another observer's (voice_gateway.latency).
"""

from __future__ import annotations

from loguru import logger
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    ErrorFrame,
    Frame,
    LLMTextFrame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)

from voice_common.protocol.errors import error_event
from voice_common.protocol.gateway import (
    BotStartedSpeaking,
    BotStoppedSpeaking,
    BotText,
    Transcript,
    UserStartedSpeaking,
    UserStoppedSpeaking,
)
from voice_gateway import metrics
from voice_gateway.observing import OncePerFrameObserver, SendEvent, service_of
from voice_gateway.serializer import ClientProtocolErrorFrame
from voice_gateway.stt import RevisedTranscriptionFrame
from voice_gateway.upstream import UpstreamErrorFrame

ERROR_SUMMARY_CHARS = 200

# Frames that carry nothing but their happening, and the event each one is.
_PLAIN_EVENTS = {
    VADUserStartedSpeakingFrame: UserStartedSpeaking,
    VADUserStoppedSpeakingFrame: UserStoppedSpeaking,
    BotStartedSpeakingFrame: BotStartedSpeaking,
    BotStoppedSpeakingFrame: BotStoppedSpeaking,
}


class CallerEventsObserver(OncePerFrameObserver):
    """Narrates one caller's session: speaking starts and stops, transcripts, bot text, errors."""

    OBSERVED = (ClientProtocolErrorFrame, TranscriptionFrame, LLMTextFrame, ErrorFrame, *_PLAIN_EVENTS)

    def __init__(self, send_event: SendEvent, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self._send = send_event

    async def handle(self, frame: Frame, source: object) -> None:
        if isinstance(frame, ClientProtocolErrorFrame):
            metrics.CLIENT_ERRORS.labels(code=frame.code).inc()
            await self._send(error_event(frame.code, frame.message))
        elif isinstance(frame, TranscriptionFrame):
            # A revision: the caller went on after a pause, and this replaces the last transcript.
            revised = {"revises": True} if isinstance(frame, RevisedTranscriptionFrame) else {}
            await self._send(Transcript(text=frame.text, **revised).wire())
        elif isinstance(frame, LLMTextFrame):
            await self._send(BotText(text=frame.text).wire())
        elif isinstance(frame, ErrorFrame):
            await self._report_error(frame)
        else:
            event = next(event for cls, event in _PLAIN_EVENTS.items() if isinstance(frame, cls))
            await self._send(event().wire())

    async def _report_error(self, frame: ErrorFrame) -> None:
        if isinstance(frame, UpstreamErrorFrame):
            service, code = frame.service, frame.code
        else:
            service = service_of(frame.processor)
            code = f"{service}_error"
        metrics.UPSTREAM_ERRORS.labels(service=service, code=code).inc()
        logger.warning(f"{service} error reported to the caller ({code}): {frame.error}")
        # Upstream error bodies can carry server tracebacks and paths: the caller gets the first line.
        summary = frame.error.strip().splitlines()[0][:ERROR_SUMMARY_CHARS] if frame.error.strip() else code
        await self._send(error_event(code, summary, service=service))
