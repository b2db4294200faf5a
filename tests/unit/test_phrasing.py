"""The first phrase of each reply leaves for TTS early; the rest of the reply goes by sentence."""

from __future__ import annotations

import asyncio

from voice_gateway.phrasing import DEFAULT_EXPECTED_RTF, GrowingPhraseTextAggregator
from voice_gateway.settings import GatewaySettings


async def _feed(aggregator: GrowingPhraseTextAggregator, tokens: list[str]) -> list[str]:
    """The texts the aggregator releases while ``tokens`` stream in, then its flush at the reply's end."""
    released = [aggregation.text for token in tokens async for aggregation in aggregator.aggregate(token)]
    rest = await aggregator.flush()
    return released + ([rest.text] if rest else [])


def _tokens(text: str) -> list[str]:
    """LLM-like tokens: each word with its leading space."""
    words = text.split(" ")
    return [words[0]] + [f" {word}" for word in words[1:]]


def feed(tokens: list[str], max_words: int = 4, expected_rtf: float = DEFAULT_EXPECTED_RTF) -> list[str]:
    return asyncio.run(_feed(GrowingPhraseTextAggregator(max_words=max_words, expected_rtf=expected_rtf), tokens))


def test_first_phrase_leaves_at_a_clause_break():
    # Two words of audio buffered: the next phrase may be four words, not eight.
    assert feed(_tokens("Sure thing, the capital of France is Paris. It is lovely.")) == [
        "Sure thing,",
        "the capital of France",
        "is Paris.",
        "It is lovely.",
    ]


def test_first_phrase_leaves_after_max_words_without_a_break():
    assert feed(_tokens("The capital of France is Paris. It is lovely.")) == [
        "The capital of France",
        "is Paris.",
        "It is lovely.",
    ]


def test_a_short_first_sentence_goes_whole_and_the_next_phrase_stays_short():
    # "Sure." buffers half a second of audio: the next phrase gets the first phrase's limit, not twice it.
    assert feed(_tokens("Sure. The capital of France is Paris.")) == ["Sure.", "The capital of France", "is Paris."]


def test_numbers_are_not_cut_at_their_commas_or_points():
    assert feed(_tokens("About 384,400 kilometers, on average.")) == ["About 384,400 kilometers,", "on average."]
    assert feed(_tokens("Pi is 3.14 roughly speaking.")) == ["Pi is 3.14 roughly", "speaking."]


def test_one_word_before_a_comma_waits_for_more():
    assert feed(_tokens("Well, I think so. Yes.")) == ["Well, I think so.", "Yes."]


def test_each_reply_starts_with_a_first_phrase_again():
    aggregator = GrowingPhraseTextAggregator(max_words=3)

    async def two_replies() -> list[list[str]]:
        first = await _feed(aggregator, _tokens("One two three four five. Six."))
        second = await _feed(aggregator, _tokens("Seven eight nine ten. Eleven."))
        return [first, second]

    assert asyncio.run(two_replies()) == [["One two three", "four five.", "Six."], ["Seven eight nine", "ten.", "Eleven."]]


def test_an_interruption_resets_to_a_first_phrase():
    aggregator = GrowingPhraseTextAggregator(max_words=3)

    async def interrupted() -> list[str]:
        await _feed_no_flush(aggregator, _tokens("One two three four"))
        await aggregator.handle_interruption()
        return await _feed(aggregator, _tokens("Alpha beta gamma delta. End."))

    assert asyncio.run(interrupted()) == ["Alpha beta gamma", "delta.", "End."]


async def _feed_no_flush(aggregator: GrowingPhraseTextAggregator, tokens: list[str]) -> list[str]:
    return [aggregation.text for token in tokens async for aggregation in aggregator.aggregate(token)]


def test_phrases_double_until_only_sentences_are_left():
    words = " ".join(f"w{i}" for i in range(1, 41)) + "."
    released = feed(_tokens(words), max_words=4)
    assert [len(text.split()) for text in released] == [4, 8, 16, 12]  # the sentence ends before 32 more
    assert " ".join(released) == words


def test_a_slower_tts_gets_phrases_that_grow_more_slowly():
    words = " ".join(f"w{i}" for i in range(1, 41)) + "."
    # At 0.8 s of synthesis per second of audio, only a fifth of each later phrase is still buffered
    # when the next one starts: limits 4, 5, (4 + 0.2 * 5) / 0.8 = 6, then 7, 9...
    sizes = [len(text.split()) for text in feed(_tokens(words), max_words=4, expected_rtf=0.8)]
    assert sizes == [4, 5, 6, 7, 9, 9]  # the last one ends at the sentence
    assert sum(sizes) == 40
    # A TTS far faster than real time (a GPU) goes to whole sentences after the first phrase.
    assert [len(text.split()) for text in feed(_tokens(words), max_words=4, expected_rtf=0.1)] == [4, 36]


def test_past_the_largest_phrase_sentences_stay_whole_to_the_end_of_the_reply():
    text = " ".join(f"w{i}" for i in range(1, 31)) + ". Short one. " + " ".join(f"v{i}" for i in range(1, 21)) + "."
    sizes = [len(t.split()) for t in feed(_tokens(text), max_words=4, expected_rtf=0.5)]
    assert sizes == [4, 8, 16, 2, 2, 20]  # 4 + 8 + 16 + 2 (sentence end): the limit passed 32 there


def test_the_gateways_default_is_the_aggregators():
    assert GatewaySettings().tts_expected_rtf == DEFAULT_EXPECTED_RTF


def test_later_phrases_skip_clause_breaks_until_half_their_limit():
    # After a 4-word first phrase the next may hold 8 words: a comma after 2 does not cut it, after 4 does.
    released = feed(_tokens("One two three four five, six seven eight, nine ten eleven twelve."), max_words=4)
    assert released == ["One two three four", "five, six seven eight,", "nine ten eleven twelve."]


def test_past_the_largest_phrase_only_sentence_ends_release():
    words = " ".join(f"w{i}" for i in range(1, 101)) + "."
    assert [len(text.split()) for text in feed(_tokens(words), max_words=8)] == [8, 16, 32, 44]
