"""Turns Pipecat frames into the caller-facing JSON events and the per-turn measurements.

An observer sees every frame pushed between processors, including the transcript the user
aggregator consumes, so one place can both narrate the session to the caller and time each
turn, without adding processors to the pipeline's hot path.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from loguru import logger
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    ErrorFrame,
    Frame,
    InterruptionFrame,
    LLMContextFrame,
    LLMTextFrame,
    MetricsFrame,
    TranscriptionFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.metrics.metrics import TTFBMetricsData
from pipecat.observers.base_observer import BaseObserver, FramePushed
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.llm_service import LLMService
from pipecat.services.stt_service import STTService
from pipecat.services.tts_service import TTSService

from voice_common.budget import Budget
from voice_common.protocol.errors import error_event
from voice_common.protocol.gateway import (
    BotStartedSpeaking,
    BotStoppedSpeaking,
    BotText,
    Transcript,
    TurnMetrics,
    UserStartedSpeaking,
    UserStoppedSpeaking,
)
from voice_gateway import metrics
from voice_gateway.serializer import ClientProtocolErrorFrame
from voice_gateway.stt import RevisedTranscriptionFrame
from voice_gateway.turns import TurnTimer, record_turn
from voice_gateway.upstream import UpstreamErrorFrame

SendEvent = Callable[[dict], Awaitable[None]]
ERROR_SUMMARY_CHARS = 200

# Only these frames mean anything to the caller or to turn timing; audio frames are skipped cheaply.
_OBSERVED = (
    ClientProtocolErrorFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
    TranscriptionFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    LLMTextFrame,
    LLMContextFrame,
    MetricsFrame,
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    InterruptionFrame,
    ErrorFrame,
)

# Pipecat sends these as two frames with different ids, one downstream and one upstream (the
# speaking frames as broadcast siblings, the VAD ones pushed twice by the user aggregator).
_BOTH_WAYS = (
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    InterruptionFrame,
)


def _service_of(processor: object) -> str:
    for cls, name in ((STTService, "stt"), (LLMService, "llm"), (TTSService, "tts")):
        if isinstance(processor, cls):
            return name
    return "gateway"


class SessionObserver(BaseObserver):
    """Narrates one caller's session as JSON events and measures each of its turns."""

    def __init__(self, send_event: SendEvent, budget: Budget, **kwargs) -> None:
        super().__init__(**kwargs)
        self._send = send_event
        self._budget = budget
        self._seen: set[int] = set()
        self._turn: TurnTimer | None = None  # caller finished speaking, bot not yet heard
        self._speaking_turn: TurnTimer | None = None  # bot is answering it; reported when it stops
        self._turns = 0  # turns answered so far
        self._bot_speaking = False
        self._reply_streaming = False  # the TTS is still producing the current reply's audio
        self.completed_turns: list[dict] = []
        # The current turn's trace and span ids, kept with its histogram observations as exemplars
        # (set by the pipeline to read Pipecat's turn span; voice_gateway.tracing.turn_trace_ids).
        self.trace_ids: Callable[[], dict[str, str]] = dict

    async def on_push_frame(self, data: FramePushed) -> None:
        frame = data.frame
        if not isinstance(frame, _OBSERVED) or frame.id in self._seen:
            return  # a frame is observed at every hop; act on its first
        if isinstance(frame, _BOTH_WAYS) and data.direction is FrameDirection.UPSTREAM:
            return  # the upstream twin of one already seen going downstream
        self._seen.add(frame.id)
        try:
            await self._handle(frame, data.source)
        except Exception:  # noqa: BLE001 - telemetry must never take a call down
            logger.exception("session observer failed")

    async def _handle(self, frame: Frame, source: object) -> None:
        now = time.time()
        if isinstance(frame, ClientProtocolErrorFrame):
            metrics.CLIENT_ERRORS.labels(code=frame.code).inc()
            await self._send(error_event(frame.code, frame.message))
        elif isinstance(frame, VADUserStartedSpeakingFrame):
            await self._send(UserStartedSpeaking().wire())
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            # A pause the caller speaks on from replaces this timer with the same turn number.
            speech_end = frame.timestamp - frame.stop_secs
            self._turn = TurnTimer(number=self._turns + 1, speech_end=speech_end, vad_stop=now)
            await self._send(UserStoppedSpeaking().wire())
        elif isinstance(frame, TranscriptionFrame):
            if self._turn is not None and self._turn.transcript_at is None:
                self._turn.transcript_at = now
                self._turn.transcript = frame.text
            # A revision: the caller went on after a pause, and this replaces the last transcript.
            revised = {"revises": True} if isinstance(frame, RevisedTranscriptionFrame) else {}
            await self._send(Transcript(text=frame.text, **revised).wire())
        elif isinstance(frame, TTSStartedFrame):
            self._reply_streaming = True
            if self._turn is not None and self._turn.tts_started_at is None:
                self._turn.tts_started_at = now
        elif isinstance(frame, TTSStoppedFrame):
            self._reply_streaming = False
            if not self._bot_speaking:
                await self._report_turn()
        elif isinstance(frame, LLMTextFrame):
            await self._send(BotText(text=frame.text).wire())
        elif isinstance(frame, LLMContextFrame):
            if self._turn is not None and self._turn.llm_context_messages is None:
                self._turn.llm_context_messages = len(frame.context.messages)
        elif isinstance(frame, MetricsFrame):
            self._take_ttfb(frame, source)
        elif isinstance(frame, BotStartedSpeakingFrame):
            self._bot_speaking = True
            await self._send(BotStartedSpeaking().wire())
            await self._finish_turn(now)
        elif isinstance(frame, BotStoppedSpeakingFrame):
            self._bot_speaking = False
            await self._send(BotStoppedSpeaking().wire())
            if not self._reply_streaming:  # else a pause inside the reply: the TTS has more coming
                await self._report_turn()
        elif isinstance(frame, InterruptionFrame) and (self._bot_speaking or self._speaking_turn is not None):
            # Over the bot's voice, or in a pause inside its reply: either way the reply is cut off.
            metrics.INTERRUPTIONS.inc()
            self._reply_streaming = False
            if self._speaking_turn is not None:
                self._speaking_turn.interrupted = True
            if not self._bot_speaking:
                await self._report_turn()
        elif isinstance(frame, ErrorFrame):
            await self._report_error(frame)

    def _take_ttfb(self, frame: MetricsFrame, source: object) -> None:
        if self._turn is None:
            return
        service = _service_of(source)
        for item in frame.data:
            if not isinstance(item, TTFBMetricsData) or item.value <= 0:
                continue  # Pipecat sends zeroed metrics at startup
            if service == "llm" and self._turn.llm_ttft_s is None:
                self._turn.llm_ttft_s = item.value
            elif service == "tts" and self._turn.tts_ttfb_s is None:
                self._turn.tts_ttfb_s = item.value

    async def _finish_turn(self, first_audio_at: float) -> None:
        """First bot audio: the turn's latencies are final, so they are recorded now."""
        turn, self._turn = self._turn, None
        if turn is None:
            return  # the bot spoke without a caller turn (e.g. a greeting)
        self._turns = turn.number
        turn.over_budget = record_turn(self._budget, turn.finish(first_audio_at), self.trace_ids())
        self._speaking_turn = turn

    async def _report_turn(self) -> None:
        """Bot done (or cut off): tell the caller about the turn, with what only the end knows."""
        turn, self._speaking_turn = self._speaking_turn, None
        if turn is None:
            return
        stages = turn.stages_ms
        event = TurnMetrics(
            turn=turn.number,
            transcript=turn.transcript,
            stt_ms=stages["stt"],
            llm_ttft_ms=stages["llm_ttft"],
            llm_first_phrase_ms=stages["llm_first_phrase"],
            tts_ttfb_ms=stages["tts_ttfb"],
            mouth_to_ear_ms=stages["mouth_to_ear"],
            over_budget=turn.over_budget,
            interrupted=turn.interrupted,
            llm_context_messages=turn.llm_context_messages,
        ).wire()
        self.completed_turns.append(event)
        await self._send(event)

    async def _report_error(self, frame: ErrorFrame) -> None:
        if isinstance(frame, UpstreamErrorFrame):
            service, code = frame.service, frame.code
        else:
            service = _service_of(frame.processor)
            code = f"{service}_error"
        metrics.UPSTREAM_ERRORS.labels(service=service, code=code).inc()
        logger.warning(f"{service} error reported to the caller ({code}): {frame.error}")
        # Upstream error bodies can carry server tracebacks and paths: the caller gets the first line.
        summary = frame.error.strip().splitlines()[0][:ERROR_SUMMARY_CHARS] if frame.error.strip() else code
        await self._send(error_event(code, summary, service=service))
