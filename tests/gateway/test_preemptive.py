"""Preemptive generation on the real stack: a reply started while the turn is being confirmed is
kept when the caller stays quiet and discarded, with nothing heard and nothing in the context, when
the caller goes on speaking."""

from __future__ import annotations

import pytest

from support import metric_by_label
from voice_agent.client import Caller

pytestmark = pytest.mark.slow

async def speculations(gateway_http: str) -> dict[str, float]:
    outcomes = ("started", "confirmed", "discarded")
    return await metric_by_label(gateway_http, "voice_speculative_replies_total", "outcome", outcomes)


async def pause_until_speculating(call: Caller, gateway_http: str, limit_s: float) -> dict[str, float]:
    """Stay silent until the gateway has started a speculative reply (or ``limit_s`` passes): the
    transcript takes a few hundred ms on a quiet machine, seconds on one busy with other tests."""
    waited = 0.0
    while (counts := await speculations(gateway_http))["started"] < 1 and waited < limit_s:
        await call.silence(0.1)
        waited += 0.1
    return counts


@pytest.fixture
def slow_confirming_gateway(gateway_with):
    """A 3 s confirmation window, so the transcript and the speculative reply's start land inside it."""
    gateway = gateway_with(GATEWAY_TURN_CONFIRM_SECS="3", GATEWAY_UPSTREAM_TIMEOUT_SECS="30")
    return f"http://127.0.0.1:{gateway.spec.port}", f"ws://127.0.0.1:{gateway.spec.port}/ws"


async def test_caller_who_goes_on_talking_never_hears_the_speculative_reply(slow_confirming_gateway, speech):
    http, ws = slow_confirming_gateway
    # Synthesized before the call: making a clip takes the caller's microphone off the line meanwhile.
    first_part, second_part_pcm, next_question = (
        speech(text) for text in ("What is the capital city", "of Japan?", "What is the capital of France?")
    )
    async with Caller(ws) as call:
        await call.silence(0.3)
        await call.stream(first_part)
        # The VAD stops, the STT transcribes, a reply starts: then the caller goes on.
        during_pause = await pause_until_speculating(call, http, limit_s=2.5)
        second_part = await call.say_and_listen(second_part_pcm, timeout=90)
        after_first = await speculations(http)
        follow_up = await call.say_and_listen(next_question, timeout=90)
    after_all = await speculations(http)

    assert not call.conversation.errors, call.conversation.errors
    assert during_pause["started"] >= 1, "the pause was long enough for a speculative reply to start"
    assert after_first["discarded"] >= 1, "speaking again withdrew it"
    assert after_first["confirmed"] >= 1, "the reply to the whole question was the confirmed speculation"
    # Nothing of the withdrawn reply reached the caller: no bot audio before the question was whole.
    first_audio = min(t for t, _ in call.conversation.audio)
    assert first_audio > second_part.speech_end, "bot audio played while the caller was still asking"
    transcripts = [event["text"] for _, event in call.conversation.events if event.get("type") == "transcript"]
    assert any("japan" in text.lower() for text in transcripts[:2]), transcripts
    # One user message and one bot reply went into the context for the first turn, none for the
    # withdrawn reply: the follow-up's context is the first turn's plus exactly those two.
    reported = [event for _, event in call.conversation.events if event.get("type") == "turn_metrics"]
    assert len(reported) == 2, reported
    assert follow_up.server["llm_context_messages"] == reported[0]["llm_context_messages"] + 2, reported
    assert after_all["confirmed"] >= after_first["confirmed"] + 1, "a quiet caller's speculation is kept"
    assert second_part.reply_audio_bytes > 0 and follow_up.reply_audio_bytes > 0
