"""When the LLM's words go to TTS: a short first phrase at once, then phrases that double in size.

The first audio of a reply waits for the LLM to write its first piece of text and for the TTS to
synthesize it, and on CPU Kokoro's time grows with the audio it makes (about half a second per
second of speech on two cores). Pipecat's sentence aggregation waits for the end of the first
sentence, so the first byte paid for the LLM writing the whole sentence and for the TTS speaking
all of it. Here each reply's first phrase leaves at its first clause break (a comma, semicolon,
colon or dash after a few words) or after ``max_words`` words. The next phrase may be twice as
long, and so on: a phrase is synthesized while the one before it plays, so at a real-time factor
of 0.5 each can be twice the last without a gap in the audio, while the later, longer ones keep
prosody natural and cost fewer model calls. Sentence ends always release; past ``MAX_PHRASE_WORDS``
only sentence ends do.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from pipecat.utils.text.base_text_aggregator import Aggregation, TextType
from pipecat.utils.text.simple_text_aggregator import SimpleTextAggregator

CLAUSE_BREAKS = frozenset(",;:—–")
GROWTH = 2  # each phrase may be this many times the last: at RTF 0.5 synthesis keeps up with playback
MAX_PHRASE_WORDS = 32  # from here on, whole sentences


class GrowingPhraseTextAggregator(SimpleTextAggregator):
    """Sentence aggregation, except that a reply starts with short phrases that grow."""

    def __init__(self, *, max_words: int, min_words: int = 2, **kwargs) -> None:
        super().__init__(aggregation_type=TextType.SENTENCE, **kwargs)
        self._first_max_words = max_words
        self._min_words = min_words
        self._released = 0  # phrases and sentences of the current reply gone to TTS

    def _limit(self) -> int | None:
        """Most words the next phrase may hold before it is cut (None: wait for the sentence end)."""
        limit = self._first_max_words * GROWTH**self._released
        return limit if limit <= MAX_PHRASE_WORDS else None

    async def aggregate(self, text: str) -> AsyncIterator[Aggregation]:
        for char in text:
            self._text += char
            result = await self._check_sentence_with_lookahead(char)
            if result is None and char.isspace():
                result = await self._phrase()
            if result is not None:
                self._released += 1
                yield result

    async def _phrase(self) -> Aggregation | None:
        """The buffered words, if they end a clause long enough or reach the limit; else None.

        Called at a word boundary only, so a number such as "250,761" or a word is never cut. The
        first phrase leaves at any clause break after ``min_words``; later ones at a clause break
        once they hold half their limit, so they do not shrink back to a few words."""
        limit = self._limit()
        if limit is None:
            return None
        phrase = self._text.strip()
        words = len(phrase.split())
        clause_words = self._min_words if self._released == 0 else limit // GROWTH
        at_clause_break = bool(phrase) and phrase[-1] in CLAUSE_BREAKS and words >= clause_words
        if not (at_clause_break or words >= limit):
            return None
        await super().reset()  # the buffer and any pending sentence-end lookahead
        return Aggregation(text=phrase, type=TextType.SENTENCE)

    async def flush(self) -> Aggregation | None:
        self._released = 0  # the reply is over: the next one starts with a short phrase again
        return await super().flush()

    async def handle_interruption(self) -> None:
        self._released = 0
        await super().handle_interruption()

    async def reset(self) -> None:
        self._released = 0
        await super().reset()
