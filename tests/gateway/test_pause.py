"""A caller who pauses briefly mid-sentence, with the gateway's default endpointing.

A pause longer than the VAD's stop (0.15 s) but shorter than the whole turn-end wait used to be
heard in two pieces ("What is the cap?" answered, then "ital of France?"): the STT finalized at
the pause, and the turn closed before the VAD, which needs ``start_secs`` of voice, reported that
the caller was talking again. Now the turn stays open while the VAD hears voice, and the STT
decodes the paused utterance again whole, revising the first transcript.
"""

from __future__ import annotations

import re

import pytest

from voice_agent.client import Caller

pytestmark = pytest.mark.slow

QUESTION = "What is the capital of France?"
PAUSE_S = 0.28  # past the VAD stop (0.15 s); the caller's voice is back 0.13 s later, before the turn would end


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


async def test_a_short_pause_mid_sentence_is_one_turn_with_the_whole_sentence(local_stack, speech):
    pcm = speech(QUESTION)
    cut = len(pcm) // 2 // 640 * 640  # mid-sentence (likely mid-word), on a 20 ms frame boundary
    async with Caller(local_stack.gateway_ws) as call:
        await call.silence(0.3)
        await call.stream(pcm[:cut])
        await call.silence(PAUSE_S)
        turn = await call.say_and_listen(pcm[cut:], timeout=90)

    events = [event for _, event in call.conversation.events]
    assert not call.conversation.errors, call.conversation.errors
    reported = [event for event in events if event.get("type") == "turn_metrics"]
    assert len(reported) == 1 and reported[0]["turn"] == 1, reported
    assert {"what", "capital", "france"} <= words(reported[0]["transcript"]), reported
    transcripts = [event for event in events if event.get("type") == "transcript"]
    assert transcripts[-1].get("revises") is True, transcripts  # the first half's guess was replaced
    assert {"capital", "france"} <= words(turn.transcript), turn.transcript  # and the client shows it once
    first_audio = min(t for t, _ in call.conversation.audio)
    assert first_audio > turn.speech_end, "the bot answered half a sentence while the caller was still talking"
    assert turn.reply_audio_bytes > 0
