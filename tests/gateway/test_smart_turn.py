"""Smart-turn on the real stack: a caller who pauses mid-sentence is not cut off, and a caller
who has finished is answered without the long wait."""

from __future__ import annotations

import pytest

from support import metric_by_label
from voice_agent.client import Caller

pytestmark = pytest.mark.slow

PAUSE_S = 0.8  # far past the 0.35 s of silence that ends a turn without smart-turn


async def verdicts(gateway_http: str) -> dict[str, float]:
    return await metric_by_label(gateway_http, "voice_turn_end_verdicts_total", "verdict", ("complete", "incomplete"))


@pytest.fixture
def gateways(gateway_with):
    """The same stack behind two gateways: with smart-turn, and without (today's default)."""
    with_smart_turn = gateway_with(GATEWAY_SMART_TURN="true", GATEWAY_UPSTREAM_TIMEOUT_SECS="30")
    without = gateway_with(GATEWAY_UPSTREAM_TIMEOUT_SECS="30")
    return with_smart_turn.spec.port, without.spec.port


async def pause_mid_sentence(port: int, first: bytes, rest: bytes) -> tuple[Caller, float]:
    """Say ``first``, pause, say ``rest``; return the call and when the whole question had been said."""
    async with Caller(f"ws://127.0.0.1:{port}/ws") as call:
        await call.silence(0.3)
        await call.stream(first)
        await call.silence(PAUSE_S)
        turn = await call.say_and_listen(rest, timeout=90)
    return call, turn.speech_end


async def test_a_pause_mid_sentence_is_not_the_end_of_the_turn(gateways, speech):
    smart_port, plain_port = gateways
    # Synthesized before the calls: making a clip takes the caller's microphone off the line meanwhile.
    first, rest = speech("Can you tell me about the"), speech("weather in spring?")

    call, said_at = await pause_mid_sentence(smart_port, first, rest)
    assert not call.conversation.errors, call.conversation.errors
    assert min(t for t, _ in call.conversation.audio) > said_at, "the bot answered the unfinished question"
    reported = reported_turns(call)
    assert len(reported) == 1, f"one turn, not two: {reported}"
    assert reported[0]["llm_context_messages"] == 1, "the LLM was asked once, with the whole question"
    assert (await verdicts(f"http://127.0.0.1:{smart_port}"))["incomplete"] >= 1

    # The contrast: without smart-turn the same pause ends the turn, the fragment goes to the LLM as a
    # question of its own, and the rest of the sentence arrives as a second one.
    call, _ = await pause_mid_sentence(plain_port, first, rest)
    assert reported_turns(call)[-1]["llm_context_messages"] >= 2, reported_turns(call)


def reported_turns(call: Caller) -> list[dict]:
    return [event for _, event in call.conversation.events if event.get("type") == "turn_metrics"]


async def test_a_finished_question_is_answered_without_the_long_wait(gateways, speech):
    smart_port, _ = gateways
    async with Caller(f"ws://127.0.0.1:{smart_port}/ws") as call:
        await call.silence(0.3)
        turn = await call.say_and_listen(speech("What is the capital of France?"), timeout=90)
    assert not call.conversation.errors, call.conversation.errors
    assert (await verdicts(f"http://127.0.0.1:{smart_port}"))["complete"] >= 1
    # The reply came before the 1.5 s an unfinished turn waits, plus the rest of the turn's work:
    # the first audio cannot have waited for that window.
    assert turn.reply_audio_bytes > 0 and "paris" in turn.reply_text.lower()
