"""The caller's half of the conversation context, aware that a transcript can be revised.

Pipecat's user aggregator appends every transcript of a turn. Ours may send a second, better
transcript of the same speech (``RevisedTranscriptionFrame``: the STT decoded the utterance again
whole after a pause that did not end the turn), which must replace the first guess, not follow it:
"What is the cap? What is the capital of France?" would reach the LLM otherwise.
"""

from __future__ import annotations

from pipecat.frames.frames import TranscriptionFrame
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMAssistantAggregator,
    LLMUserAggregator,
    LLMUserAggregatorParams,
)

from voice_gateway.stt import RevisedTranscriptionFrame


class RevisingUserAggregator(LLMUserAggregator):
    """Collects the caller's transcripts for the context; a revision replaces the last one."""

    async def _handle_transcription(self, frame: TranscriptionFrame) -> None:
        if isinstance(frame, RevisedTranscriptionFrame) and self._aggregation:
            self._aggregation.pop()  # the guess this revision decodes again, whole
        await super()._handle_transcription(frame)


def context_aggregators(params: LLMUserAggregatorParams) -> tuple[RevisingUserAggregator, LLMAssistantAggregator]:
    """The user and assistant halves over one shared context, as ``LLMContextAggregatorPair`` makes
    them (its user half is fixed to Pipecat's class; ours differs only in the revision above)."""
    context = LLMContext()
    return RevisingUserAggregator(context, params=params), LLMAssistantAggregator(context)
