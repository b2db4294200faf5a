"""Times each turn from the frames Pipecat already emits, and reports it when the reply is over.

A turn's latencies are final at the bot's first audio, so they go into the Prometheus histograms
then (with the turn's trace as exemplar); the ``turn_metrics`` event waits for the reply's end,
because only the end knows whether the caller cut it off.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    Frame,
    InterruptionFrame,
    LLMContextFrame,
    MetricsFrame,
    TranscriptionFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.metrics.metrics import TTFBMetricsData

from voice_common.budget import Budget
from voice_common.protocol.gateway import TurnMetrics
from voice_gateway import metrics
from voice_gateway.observing import OncePerFrameObserver, SendEvent, service_of
from voice_gateway.turns import TurnTimer, record_turn

TraceIds = Callable[[], dict[str, str]]


class TurnLatencyObserver(OncePerFrameObserver):
    """Measures each turn of one call against the budget and sends its ``turn_metrics``."""

    OBSERVED = (
        VADUserStoppedSpeakingFrame,
        TranscriptionFrame,
        LLMContextFrame,
        MetricsFrame,
        TTSStartedFrame,
        TTSStoppedFrame,
        BotStartedSpeakingFrame,
        BotStoppedSpeakingFrame,
        InterruptionFrame,
    )

    def __init__(self, send_event: SendEvent, budget: Budget, trace_ids: TraceIds = dict, **kwargs: object) -> None:
        """``trace_ids``: the current turn's trace and span ids (voice_gateway.tracing.turn_trace_ids)."""
        super().__init__(**kwargs)
        self._send = send_event
        self._budget = budget
        self._trace_ids = trace_ids
        self._turn: TurnTimer | None = None  # caller finished speaking, bot not yet heard
        self._speaking_turn: TurnTimer | None = None  # bot is answering it; reported when it stops
        self._turns = 0  # turns answered so far
        self._bot_speaking = False
        self._reply_streaming = False  # the TTS is still producing the current reply's audio

    async def handle(self, frame: Frame, source: object) -> None:
        now = time.time()
        if isinstance(frame, VADUserStoppedSpeakingFrame):
            # A pause the caller speaks on from replaces this timer with the same turn number.
            speech_end = frame.timestamp - frame.stop_secs
            self._turn = TurnTimer(number=self._turns + 1, speech_end=speech_end, vad_stop=now)
        elif isinstance(frame, TranscriptionFrame):
            if self._turn is not None and self._turn.transcript_at is None:
                self._turn.transcript_at = now
                self._turn.transcript = frame.text
        elif isinstance(frame, LLMContextFrame):
            if self._turn is not None and self._turn.llm_context_messages is None:
                self._turn.llm_context_messages = len(frame.context.messages)
        elif isinstance(frame, MetricsFrame):
            self._take_ttfb(frame, service_of(source))
        elif isinstance(frame, TTSStartedFrame):
            self._reply_streaming = True
            if self._turn is not None and self._turn.tts_started_at is None:
                self._turn.tts_started_at = now
        elif isinstance(frame, TTSStoppedFrame):
            self._reply_streaming = False
            if not self._bot_speaking:
                await self._report_turn()
        elif isinstance(frame, BotStartedSpeakingFrame):
            self._bot_speaking = True
            self._finish_turn(now)
        elif isinstance(frame, BotStoppedSpeakingFrame):
            self._bot_speaking = False
            if not self._reply_streaming:  # else a pause inside the reply: the TTS has more coming
                await self._report_turn()
        elif self._bot_speaking or self._speaking_turn is not None:  # an InterruptionFrame
            # Over the bot's voice, or in a pause inside its reply: either way the reply is cut off.
            metrics.INTERRUPTIONS.inc()
            self._reply_streaming = False
            if self._speaking_turn is not None:
                self._speaking_turn.interrupted = True
            if not self._bot_speaking:
                await self._report_turn()

    def _take_ttfb(self, frame: MetricsFrame, service: str) -> None:
        if self._turn is None:
            return
        for item in frame.data:
            if not isinstance(item, TTFBMetricsData) or item.value <= 0:
                continue  # Pipecat sends zeroed metrics at startup
            if service == "llm" and self._turn.llm_ttft_s is None:
                self._turn.llm_ttft_s = item.value
            elif service == "tts" and self._turn.tts_ttfb_s is None:
                self._turn.tts_ttfb_s = item.value

    def _finish_turn(self, first_audio_at: float) -> None:
        """First bot audio: the turn's latencies are final, so they are recorded now."""
        turn, self._turn = self._turn, None
        if turn is None:
            return  # the bot spoke without a caller turn (e.g. a greeting)
        self._turns = turn.number
        turn.over_budget = record_turn(self._budget, turn.finish(first_audio_at), self._trace_ids())
        self._speaking_turn = turn

    async def _report_turn(self) -> None:
        """Bot done (or cut off): tell the caller about the turn, with what only the end knows."""
        turn, self._speaking_turn = self._speaking_turn, None
        if turn is None:
            return
        stages = turn.stages_ms
        await self._send(
            TurnMetrics(
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
        )
