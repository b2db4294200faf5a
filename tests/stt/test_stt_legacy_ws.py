"""``WS /ws``, the seed clients' protocol: one binary frame = one utterance, one text frame back.

Unlike the seed, silence gets an empty reply and errors are JSON with a code, never transcript text.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from stt_helpers import TIMEOUT_S, connect
from voice_stt.settings import STTSettings
from voice_testkit.speech import CAPITAL, CAPITAL_WORDS, silence, words

pytestmark = pytest.mark.slow

MAX_UTTERANCE_SECONDS = STTSettings.model_fields["max_utterance_seconds"].default


async def reply(ws, frame: bytes | str) -> str:
    await ws.send(frame)
    return await asyncio.wait_for(ws.recv(), TIMEOUT_S)


async def test_one_frame_one_utterance_one_text_reply(stt_ws, speech):
    async with connect(stt_ws + "/ws") as ws:
        text = await reply(ws, speech(CAPITAL))
        assert isinstance(text, str) and CAPITAL_WORDS <= words(text), text
        assert await reply(ws, silence(1.0)) == ""


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (b"\x00\x01\x02", "odd_length_frame"),
        ("hello", "bad_message"),
        (silence(MAX_UTTERANCE_SECONDS + 1), "utterance_too_long"),
    ],
    ids=["odd", "text", "too_long"],
)
async def test_errors_are_json_not_transcripts_and_the_session_goes_on(stt_ws, frame, code):
    async with connect(stt_ws + "/ws") as ws:
        error = json.loads(await reply(ws, frame))
        assert error["code"] == code and error["error"], error
        assert await reply(ws, silence(0.3)) == ""
