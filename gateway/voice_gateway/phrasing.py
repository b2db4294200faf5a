"""When the LLM's words go to TTS: the first phrase of a reply at once, then whole sentences.

The first audio of a reply waits for the LLM to write its first piece of text and for the TTS to
synthesize it, and on CPU Kokoro's time grows with the audio it makes (about half a second per
second of speech on two cores). Pipecat's sentence aggregation waits for the end of the first
sentence, so the first byte paid for the LLM writing the whole sentence and for the TTS speaking
all of it. Here the first piece of each reply leaves at its first clause break (a comma,
semicolon, colon or dash after a few words) or after ``max_words`` words, whichever comes first;
the rest goes sentence by sentence as before, so later chunks keep their natural prosody.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from pipecat.utils.text.base_text_aggregator import Aggregation, TextType
from pipecat.utils.text.simple_text_aggregator import SimpleTextAggregator

CLAUSE_BREAKS = frozenset(",;:—–")


class FirstPhraseTextAggregator(SimpleTextAggregator):
    """Sentence aggregation, except that each reply's first phrase is released on its own."""

    def __init__(self, *, max_words: int, min_words: int = 2, **kwargs) -> None:
        super().__init__(aggregation_type=TextType.SENTENCE, **kwargs)
        self._max_words = max_words
        self._min_words = min_words
        self._first_out = False  # the current reply's first phrase has been released

    async def aggregate(self, text: str) -> AsyncIterator[Aggregation]:
        for char in text:
            self._text += char
            result = await self._check_sentence_with_lookahead(char)
            if result is None and not self._first_out and char.isspace():
                result = await self._first_phrase()
            if result is not None:
                self._first_out = True
                yield result

    async def _first_phrase(self) -> Aggregation | None:
        """The buffered words, if they end a clause or reach ``max_words``; else None (keep waiting).

        Called at a word boundary only, so a number such as "250,761" or a word is never cut."""
        phrase = self._text.strip()
        words = len(phrase.split())
        at_clause_break = bool(phrase) and phrase[-1] in CLAUSE_BREAKS and words >= self._min_words
        if not (at_clause_break or words >= self._max_words):
            return None
        await super().reset()  # the buffer and any pending sentence-end lookahead
        return Aggregation(text=phrase, type=TextType.SENTENCE)

    async def flush(self) -> Aggregation | None:
        self._first_out = False  # the reply is over: the next one starts with a first phrase again
        return await super().flush()

    async def handle_interruption(self) -> None:
        self._first_out = False
        await super().handle_interruption()

    async def reset(self) -> None:
        self._first_out = False
        await super().reset()
