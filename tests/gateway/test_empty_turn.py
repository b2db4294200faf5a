"""An empty turn (a cough, noise, an STT that heard nothing) must not poison the rest of the call.

Pipecat 1.14 answers an empty turn that interrupted the bot (or came before its first reply) by
adding a ``role: "developer"`` message to the context; llama.cpp refuses that role with a 500,
and every later turn of the call failed with ``llm_error``. Here a real STT server that treats
quiet audio as silence (``STT_SILENCE_THRESHOLD_DBFS``) makes the first turn empty for real.
"""

from __future__ import annotations

import numpy as np
import pytest

from voice_agent.client import Caller
from voice_testkit.services import start_service

pytestmark = pytest.mark.slow

QUIET_DB = -18.0  # this much below the normal level, the question is "silence" to the STT below


def attenuated(pcm: bytes, decibels: float) -> bytes:
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) * 10 ** (decibels / 20)
    return samples.astype("<i2").tobytes()


@pytest.fixture
def deaf_to_quiet_stt():
    proc = start_service("stt", "voice_stt", {"STT_SILENCE_THRESHOLD_DBFS": "-25"})
    yield proc
    proc.stop()


async def test_after_an_empty_turn_the_next_question_is_answered(gateway_with, deaf_to_quiet_stt, speech):
    gateway = gateway_with(
        GATEWAY_STT_URL=f"ws://127.0.0.1:{deaf_to_quiet_stt.spec.port}/v1/listen",
        GATEWAY_VAD_MIN_VOLUME="0.2",
        GATEWAY_UPSTREAM_TIMEOUT_SECS="30",
    )
    async with Caller(f"ws://127.0.0.1:{gateway.spec.port}/ws") as call:
        await call.silence(0.3)
        empty = await call.say_and_listen(attenuated(speech("What is the capital of France?"), QUIET_DB), timeout=60)
        assert empty.transcript == "", "the STT heard nothing in the quiet turn"
        assert call.conversation.first_event("user_stopped_speaking"), "but the VAD did hear a turn"
        await call.silence(0.5)
        turn = await call.say_and_listen(speech("What is the capital of France?"), timeout=90)
    assert not call.conversation.errors, call.conversation.errors
    assert "france" in turn.transcript.lower()
    assert turn.reply_text.strip() and turn.reply_audio_bytes > 0, "the turn after the empty one is answered"
