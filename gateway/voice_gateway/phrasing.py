"""When the LLM's words go to TTS: a short first phrase at once, then phrases that grow as fast
as the audio already sent allows.

The first audio of a reply waits for the LLM to write its first piece of text and for the TTS to
synthesize it, and on CPU Kokoro's time grows with the audio it makes (about half a second per
second of speech on two idle cores, more beside the LLM). Pipecat's sentence aggregation waits for
the end of the first sentence, so the first byte paid for the LLM writing the whole sentence and
for the TTS speaking all of it. Here each reply's first phrase leaves at its first clause break (a
comma, semicolon, colon or dash after a few words) or after ``max_words`` words.

Each later phrase is synthesized while the ones before it play, so it may hold as many words as
the TTS can speak before the audio already sent runs out. With the TTS spending ``expected_rtf``
seconds per second of audio, what is still buffered when a phrase's synthesis starts is the first
phrase plus ``1 - expected_rtf`` of each later one (the rest played while they were synthesized),
so the next phrase may hold ``(first + (1 - expected_rtf) * later) / expected_rtf`` words, and
never fewer than the first phrase's limit. At 0.5 that is 4 words, then 8, 16, 32 (each twice the
last); after a 2-word first phrase such as "Sure thing," the next holds 4 words, not 8. Longer
phrases keep prosody natural and cost fewer model calls. Sentence ends always release; past
``MAX_PHRASE_WORDS`` only sentence ends do, to the end of the reply.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from pipecat.utils.text.base_text_aggregator import Aggregation, TextType
from pipecat.utils.text.simple_text_aggregator import SimpleTextAggregator

CLAUSE_BREAKS = frozenset(",;:—–")
DEFAULT_EXPECTED_RTF = 0.5  # Kokoro int8 on two idle cores; each phrase then doubles
MAX_PHRASE_WORDS = 32  # from here on, whole sentences


class GrowingPhraseTextAggregator(SimpleTextAggregator):
    """Sentence aggregation, except that a reply starts with short phrases that grow."""

    def __init__(
        self, *, max_words: int, expected_rtf: float = DEFAULT_EXPECTED_RTF, min_words: int = 2, **kwargs
    ) -> None:
        super().__init__(aggregation_type=TextType.SENTENCE, **kwargs)
        self._first_max_words = max_words
        self._expected_rtf = expected_rtf
        self._min_words = min_words
        self._start_reply()

    def _start_reply(self) -> None:
        self._first_words = 0  # words of the reply's first phrase (0: none released yet)
        self._later_words = 0  # words of the phrases and sentences released after it
        self._limit: int | None = self._first_max_words  # the next phrase's most words; None: sentences only

    def _released(self, text: str) -> None:
        """Count a phrase or sentence gone to TTS and size the next one; past MAX_PHRASE_WORDS
        the reply goes on in whole sentences."""
        words = len(text.split())
        if self._first_words:
            self._later_words += words
        else:
            self._first_words = max(1, words)
        if self._limit is None:
            return
        rtf = self._expected_rtf
        buffered = self._first_words + (1 - rtf) * self._later_words
        limit = max(self._first_max_words, int(buffered / rtf + 1e-9))
        self._limit = limit if limit <= MAX_PHRASE_WORDS else None

    async def aggregate(self, text: str) -> AsyncIterator[Aggregation]:
        for char in text:
            self._text += char
            result = await self._check_sentence_with_lookahead(char)
            if result is None and char.isspace():
                result = await self._phrase()
            if result is not None:
                self._released(result.text)
                yield result

    async def _phrase(self) -> Aggregation | None:
        """The buffered words, if they end a clause long enough or reach the limit; else None.

        Called at a word boundary only, so a number such as "250,761" or a word is never cut. The
        first phrase leaves at any clause break after ``min_words``; later ones at a clause break
        once they hold half their limit, so they do not shrink back to a few words."""
        limit = self._limit
        if limit is None:
            return None
        phrase = self._text.strip()
        words = len(phrase.split())
        clause_words = self._min_words if not self._first_words else limit // 2
        at_clause_break = bool(phrase) and phrase[-1] in CLAUSE_BREAKS and words >= clause_words
        if not (at_clause_break or words >= limit):
            return None
        await super().reset()  # the buffer and any pending sentence-end lookahead
        return Aggregation(text=phrase, type=TextType.SENTENCE)

    async def flush(self) -> Aggregation | None:
        self._start_reply()  # the reply is over: the next one starts with a short phrase again
        return await super().flush()

    async def handle_interruption(self) -> None:
        self._start_reply()
        await super().handle_interruption()

    async def reset(self) -> None:
        self._start_reply()
        await super().reset()
