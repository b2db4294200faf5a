"""The TTS server's replies reach the audio context of the phrase they answer (no server needed)."""

from __future__ import annotations

from voice_gateway.tts_phrases import SentPhrases


def test_replies_follow_the_phrases_in_order_and_a_context_completes_at_its_last_end_once_flushed():
    phrases = SentPhrases()
    for context_id in ("turn-1", "turn-1", "turn-2"):
        phrases.sent(context_id)
    assert phrases.speaking() == "turn-1"
    assert phrases.answered() is None  # turn-1's first phrase: more to come
    assert not phrases.flushed("turn-1")  # its second phrase is still due
    assert phrases.answered() == "turn-1"  # its last END: the context can close
    assert phrases.speaking() == "turn-2"
    assert phrases.answered() is None  # not flushed: the turn may send more phrases
    assert phrases.flushed("turn-2") and not phrases.waiting()


def test_a_cancel_drops_what_was_sent_before_it_and_what_follows_is_routed_after_the_ack():
    phrases = SentPhrases()
    phrases.sent("old")
    phrases.sent("old")
    assert phrases.cancel_sent()
    assert not phrases.cancel_sent()  # nothing sent since: one cancel is enough
    phrases.sent("new")
    assert phrases.speaking() == "old"  # leftovers ahead of the ack
    assert phrases.answered() is None  # an END that beat the cancel to the server
    phrases.cancelled()
    assert phrases.speaking() == "new"
    assert phrases.answered() is None and phrases.flushed("new")


def test_with_nothing_unanswered_there_is_nothing_to_cancel_or_wait_for():
    phrases = SentPhrases()
    assert not phrases.cancel_sent() and not phrases.waiting() and phrases.speaking() is None
    phrases.sent("a")
    phrases.clear()  # the connection died: nothing sent on it will be answered
    assert not phrases.waiting() and phrases.answered() is None


def test_an_error_answers_a_phrase_of_the_context_it_names_even_ahead_of_earlier_replies():
    phrases = SentPhrases()
    for context_id in ("turn-1", "turn-2", "turn-2"):
        phrases.sent(context_id)
    assert not phrases.flushed("turn-1") and not phrases.flushed("turn-2")
    # turn-2's phrase refused on arrival, while turn-1 is still being spoken: turn-1 keeps the audio.
    assert phrases.failed("turn-2") is None and phrases.speaking() == "turn-1"
    assert phrases.answered() == "turn-1"
    assert phrases.failed("turn-2") == "turn-2"  # its last phrase failed: the reply is over, nothing stalls
    assert not phrases.waiting()
    phrases.sent("turn-3")
    assert phrases.speaking() == "turn-3"


def test_an_error_of_a_cancelled_context_never_takes_the_place_of_the_next_replys_phrase():
    phrases = SentPhrases()
    phrases.sent("old")
    assert phrases.cancel_sent()
    phrases.sent("new")
    assert phrases.failed("old") is None  # its synthesis failed before the cancel reached the server
    phrases.cancelled()  # the ack then drops nothing more
    assert phrases.speaking() == "new"
    assert phrases.failed("old") is None and phrases.speaking() == "new"  # a failure reported after the ack
    assert phrases.answered() is None and phrases.flushed("new")


def test_an_error_without_a_context_id_answers_the_oldest_phrase_as_before_the_field():
    phrases = SentPhrases()
    phrases.sent("a")
    phrases.sent("b")
    assert phrases.failed(None) is None and phrases.speaking() == "b"
