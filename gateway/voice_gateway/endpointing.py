"""End of the caller's turn: decode at the first pause, answer speculatively, confirm on silence.

The VAD reports a stop after a short silence (``GATEWAY_VAD_STOP_SECS``); our STT finalizes at
that moment, so the transcript is being decoded while the turn is still open. The turn is
confirmed only after ``confirm_secs`` more silence. If the transcript lands inside that window,
the LLM starts on it at once (a speculative reply, held by Pipecat's ``SpeculationGate`` in the
LLM service until the turn is confirmed), so the confirmation wait hides the STT and the LLM's
first token instead of adding to them. If the caller speaks again inside the window, the
speculation is withdrawn: Pipecat stops the LLM request, nothing of it reaches the TTS, the caller
or the context, and the turn goes on collecting the rest of what the caller says.

A caller who resumes speaking is only reported by the VAD after ``start_secs`` of voice, which
can fall after the window closes: a pause of 0.2-0.35 s used to end the turn on half a sentence
("What is the cap?") with the caller already talking again. So the window never closes while the
VAD hears voice; it waits up to ``start_secs`` more for the VAD to confirm or drop it.

With a turn analyzer (smart-turn v3, ``GATEWAY_SMART_TURN``), the window depends on what the
caller said: a turn the model hears as unfinished ("I would like to order a") gets
``incomplete_confirm_secs`` of silence before it ends, so a caller who pauses mid-sentence is not
cut off; a finished one keeps the short window.

Speculation is LiveKit's ``preemptive_generation`` and Deepgram's speculative replies, on top of
Pipecat's own eager-turn machinery (the same events ``EagerUserTurnStopStrategy`` fires for
STT services that predict the end of a turn).
"""

from __future__ import annotations

import asyncio
import time

from loguru import logger
from pipecat.audio.turn.base_turn_analyzer import BaseTurnAnalyzer, EndOfTurnState
from pipecat.frames.frames import (
    Frame,
    InputAudioRawFrame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameProcessorSetup
from pipecat.turns.types import ProcessFrameResult, UserTurnSpeculation
from pipecat.turns.user_stop.speech_timeout_user_turn_stop_strategy import SpeechTimeoutUserTurnStopStrategy

from voice_gateway import metrics
from voice_gateway.stt import RevisedTranscriptionFrame
from voice_gateway.vad import SharedSileroVADAnalyzer

ONSET_MARGIN_SECS = 0.05  # two VAD windows: the start is reported on the frame after start_secs


class ConfirmingUserTurnStopStrategy(SpeechTimeoutUserTurnStopStrategy):
    """Ends a turn after a window of silence past the VAD stop, answering speculatively meanwhile."""

    def __init__(
        self,
        *,
        confirm_secs: float,
        speculate: bool,
        vad: SharedSileroVADAnalyzer,
        turn_analyzer: BaseTurnAnalyzer | None = None,
        incomplete_confirm_secs: float = 0.0,
        **kwargs,
    ) -> None:
        super().__init__(user_speech_timeout=confirm_secs, **kwargs)
        self._vad = vad
        self._onset_check: asyncio.Task | None = None
        self._confirm_secs = confirm_secs
        self._speculate = speculate
        self._turn_analyzer = turn_analyzer
        self._incomplete_confirm_secs = incomplete_confirm_secs
        self._speculation: UserTurnSpeculation | None = None
        self._said: list[str] = []  # the turn's transcripts (Pipecat's own _text glues them without a space)

    async def setup(self, setup: FrameProcessorSetup) -> None:
        await super().setup(setup)
        if self._turn_analyzer is not None:
            self._turn_analyzer.set_sample_rate(setup.audio_in_sample_rate)

    async def cleanup(self) -> None:
        await super().cleanup()
        if self._turn_analyzer is not None:
            await self._turn_analyzer.cleanup()

    async def process_frame(self, frame: Frame) -> ProcessFrameResult:
        if isinstance(frame, InputAudioRawFrame) and self._turn_analyzer is not None:
            self._turn_analyzer.append_audio(frame.audio, self._vad_user_speaking)
        return await super().process_frame(frame)

    async def _handle_transcription(self, frame: TranscriptionFrame) -> None:
        if isinstance(frame, RevisedTranscriptionFrame) and self._said:
            self._said.pop()  # decoded again whole after the pause: it replaces the first guess
        self._said.append(frame.text.strip())
        await super()._handle_transcription(frame)
        waiting_for_confirmation = (
            self._text and self._vad_stopped and not self._vad_user_speaking and not self._user_speech_wait_done
        )
        if not (self._speculate and waiting_for_confirmation):
            return  # the turn ended on this transcript, or the caller is still talking
        if self._speculation is not None:
            await self._withdraw("a later transcript of the same turn")
        self._speculation = UserTurnSpeculation(text=self._turn_text())
        metrics.SPECULATIONS.labels(outcome="started").inc()
        logger.debug(f"{self}: speculative reply to [{self._speculation.text}] while the turn is confirmed")
        await self.trigger_user_turn_inference_triggered(speculation=self._speculation)

    def _turn_text(self) -> str:
        return " ".join(text for text in self._said if text)

    async def _handle_vad_user_started_speaking(self, frame: VADUserStartedSpeakingFrame) -> None:
        if self._speculation is not None:
            await self._withdraw("the caller spoke again")
        if self._turn_analyzer is not None:
            self._turn_analyzer.update_vad_start_secs(frame.start_secs)
        await super()._handle_vad_user_started_speaking(frame)

    async def _handle_vad_user_stopped_speaking(self, frame: VADUserStoppedSpeakingFrame) -> None:
        # Pipecat warns on every call that stop_secs is not its 0.2 s: ours is chosen, and the STT's
        # latency (its p99 is given to the STT service) is measured in our own benchmarks.
        self._stop_secs_warned = True
        self._user_speech_timeout = await self._confirmation_window()
        await super()._handle_vad_user_stopped_speaking(frame)

    async def _confirmation_window(self) -> float:
        """Silence still needed to end the turn: longer if the turn analyzer hears it unfinished."""
        if self._turn_analyzer is None:
            return self._confirm_secs
        started = time.monotonic()
        state, _ = await self._turn_analyzer.analyze_end_of_turn()
        complete = state is EndOfTurnState.COMPLETE
        metrics.TURN_VERDICTS.labels(verdict="complete" if complete else "incomplete").inc()
        window = self._confirm_secs if complete else self._incomplete_confirm_secs
        return max(0.0, window - (time.monotonic() - started))  # the silence during inference counts

    async def _maybe_trigger_user_turn_stopped(self) -> None:
        if self._vad.hears_voice and not self._vad_user_speaking:
            # Voice, not yet long enough for a VAD start: look again once it would have been.
            if self._onset_check is None:
                self._onset_check = self.task_manager.create_task(self._check_after_onset(), f"{self}::onset")
            return
        await super()._maybe_trigger_user_turn_stopped()

    async def _check_after_onset(self) -> None:
        try:
            await asyncio.sleep(self._vad.params.start_secs + ONSET_MARGIN_SECS)
        finally:
            self._onset_check = None
        await self._maybe_trigger_user_turn_stopped()  # a VAD start since makes this a no-op

    async def trigger_user_turn_stopped(self, *, enable_user_speaking_frames: bool | None = None) -> None:
        speculation, self._speculation = self._speculation, None
        if speculation is not None and speculation.text == self._turn_text():
            metrics.SPECULATIONS.labels(outcome="confirmed").inc()
            # The reply is already generating on this very transcript: release it, do not ask again.
            await self.trigger_user_turn_finalized(
                enable_user_speaking_frames=enable_user_speaking_frames, confirms_speculation=True
            )
            return
        if speculation is not None:
            self._speculation = speculation
            await self._withdraw("the turn's transcript changed")
        await super().trigger_user_turn_stopped(enable_user_speaking_frames=enable_user_speaking_frames)

    async def handle_user_turn_stopped(self) -> None:
        await super().handle_user_turn_stopped()
        if self._turn_analyzer is not None:
            self._turn_analyzer.clear()  # no stale audio carried into the next turn

    async def _reset(self, *, clear_vad_user_speaking: bool) -> None:
        if self._onset_check is not None:
            await self.task_manager.cancel_task(self._onset_check)
            self._onset_check = None
        if self._speculation is not None:  # a turn boundary with a speculation unresolved (e.g. the call ended)
            await self._withdraw("the turn ended unresolved")
        self._said = []
        self._user_speech_timeout = self._confirm_secs  # until the next VAD stop's verdict
        await super()._reset(clear_vad_user_speaking=clear_vad_user_speaking)

    async def _withdraw(self, reason: str) -> None:
        """Discard the speculation in flight: Pipecat stops its LLM request and drops its frames."""
        self._speculation = None
        metrics.SPECULATIONS.labels(outcome="discarded").inc()
        logger.debug(f"{self}: speculative reply discarded ({reason})")
        await self.trigger_user_turn_speculation_cancelled()
