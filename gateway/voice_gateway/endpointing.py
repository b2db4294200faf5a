"""End of the caller's turn: decode at the first pause, answer speculatively, confirm on silence.

The VAD reports a stop after a short silence (``GATEWAY_VAD_STOP_SECS``); our STT finalizes at
that moment, so the transcript is being decoded while the turn is still open. The turn is
confirmed only after ``confirm_secs`` more silence. If the transcript lands inside that window,
the LLM starts on it at once (a speculative reply, held by Pipecat's ``SpeculationGate`` in the
LLM service until the turn is confirmed), so the confirmation wait hides the STT and the LLM's
first token instead of adding to them. If the caller speaks again inside the window, the
speculation is withdrawn: Pipecat stops the LLM request, nothing of it reaches the TTS, the caller
or the context, and the turn goes on collecting the rest of what the caller says.

Speculation is LiveKit's ``preemptive_generation`` and Deepgram's speculative replies, on top of
Pipecat's own eager-turn machinery (the same events ``EagerUserTurnStopStrategy`` fires for
STT services that predict the end of a turn).
"""

from __future__ import annotations

from loguru import logger
from pipecat.frames.frames import TranscriptionFrame, VADUserStartedSpeakingFrame, VADUserStoppedSpeakingFrame
from pipecat.turns.types import UserTurnSpeculation
from pipecat.turns.user_stop.speech_timeout_user_turn_stop_strategy import SpeechTimeoutUserTurnStopStrategy

from voice_gateway import metrics


class PreemptiveUserTurnStopStrategy(SpeechTimeoutUserTurnStopStrategy):
    """Ends a turn after ``confirm_secs`` of silence past the VAD stop, answering speculatively meanwhile."""

    def __init__(self, *, confirm_secs: float, **kwargs) -> None:
        super().__init__(user_speech_timeout=confirm_secs, **kwargs)
        self._speculation: UserTurnSpeculation | None = None
        self._said: list[str] = []  # the turn's transcripts (Pipecat's own _text glues them without a space)

    async def _handle_transcription(self, frame: TranscriptionFrame) -> None:
        self._said.append(frame.text.strip())
        await super()._handle_transcription(frame)
        waiting_for_confirmation = (
            self._text and self._vad_stopped and not self._vad_user_speaking and not self._user_speech_wait_done
        )
        if not waiting_for_confirmation:
            return  # the turn ended on this transcript, or the caller is still talking
        if self._speculation is not None:
            await self._withdraw("a later transcript of the same turn")
        self._speculation = UserTurnSpeculation(text=self._turn_text())
        metrics.SPECULATIONS.labels(outcome="started").inc()
        logger.debug(f"{self}: speculative reply to [{self._speculation.text}] while the turn is confirmed")
        await self.trigger_user_turn_inference_triggered(speculation=self._speculation)

    def _turn_text(self) -> str:
        return " ".join(text for text in self._said if text)

    async def _handle_vad_user_stopped_speaking(self, frame: VADUserStoppedSpeakingFrame) -> None:
        # Pipecat warns on every call that stop_secs is not its 0.2 s: ours is chosen, and the STT's
        # latency (its p99 is given to the STT service) is measured in our own benchmarks.
        self._stop_secs_warned = True
        await super()._handle_vad_user_stopped_speaking(frame)

    async def _handle_vad_user_started_speaking(self, frame: VADUserStartedSpeakingFrame) -> None:
        if self._speculation is not None:
            await self._withdraw("the caller spoke again")
        await super()._handle_vad_user_started_speaking(frame)

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

    async def _reset(self, *, clear_vad_user_speaking: bool) -> None:
        if self._speculation is not None:  # a turn boundary with a speculation unresolved (e.g. the call ended)
            await self._withdraw("the turn ended unresolved")
        self._said = []
        await super()._reset(clear_vad_user_speaking=clear_vad_user_speaking)

    async def _withdraw(self, reason: str) -> None:
        """Discard the speculation in flight: Pipecat stops its LLM request and drops its frames."""
        self._speculation = None
        metrics.SPECULATIONS.labels(outcome="discarded").inc()
        logger.debug(f"{self}: speculative reply discarded ({reason})")
        await self.trigger_user_turn_speculation_cancelled()
