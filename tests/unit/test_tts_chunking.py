"""The TTS server's text cutting: a short first chunk for the first byte, bigger ones after."""

from __future__ import annotations

from voice_tts.chunking import chunk_text


def test_first_chunk_is_the_first_clause_of_a_long_first_sentence():
    text = "The capital of France is Paris, a city known for its art, food and long history. It is lovely."
    chunks = chunk_text(text, first_max=40, later_max=300)
    assert chunks[0] == "The capital of France is Paris,"
    assert " ".join(chunks) == " ".join(text.split())


def test_a_short_first_sentence_is_the_whole_first_chunk_and_the_rest_is_grouped():
    chunks = chunk_text("Sure. One two. Three four. Five six.", first_max=80, later_max=300)
    assert chunks == ["Sure.", "One two. Three four. Five six."]


def test_later_chunks_never_exceed_their_limit_and_lose_no_words():
    text = " ".join(f"Sentence number {i} has a few words in it." for i in range(40))
    chunks = chunk_text(text, first_max=30, later_max=120)
    assert all(len(chunk) <= 120 for chunk in chunks[1:]) and len(chunks[0]) <= 30
    assert " ".join(chunks).split() == text.split()


def test_a_run_without_spaces_is_still_cut_to_the_limit():
    chunks = chunk_text("x" * 100, first_max=40, later_max=50)
    assert chunks[0] == "x" * 40 and all(len(chunk) <= 50 for chunk in chunks)
    assert "".join(chunks) == "x" * 100


def test_blank_text_has_no_chunks():
    assert chunk_text("  \n\t ", first_max=40, later_max=300) == []
