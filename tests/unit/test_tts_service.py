"""The gateway's TTS service against a scripted stand-in for the TTS server's ``WS /ws`` (no models).

The stand-in answers each phrase with two audio chunks and ``END`` (or an error event naming the
phrase's context in their place), in order, as the real server does; run through Pipecat's ``run_test``.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import pytest
from pipecat.frames.frames import (
    ErrorFrame,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
)
from pipecat.tests.utils import SleepFrame, run_test
from websockets.asyncio.server import ServerConnection, serve

from voice_common.protocol.errors import error_event
from voice_common.protocol.tts import CancelledMessage
from voice_gateway.tts import VoiceTTSService
from voice_gateway.upstream import UpstreamErrorFrame

pytestmark = pytest.mark.asyncio(loop_scope="session")  # the loop the stand-in fixture serves on

CHUNK = b"\x01\x00" * 2400  # 0.1 s at 24 kHz


class StandIn:
    """Answers phrases in order; a phrase whose text holds ``unsayable`` gets an error event instead,
    one that holds ``slowly`` one chunk, then at the cancel a leftover chunk and the ack; ``stall``
    nothing at all; ``held`` one chunk, and the rest after answering the next phrase (as the real
    server refuses a bad phrase on arrival, ahead of the audio of phrases sent before it)."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.closed = 0  # connections the gateway has closed
        self.held: list[bytes | str] = []

    async def __call__(self, websocket: ServerConnection) -> None:
        async for message in websocket:
            request = json.loads(message)
            self.received.append(request)
            held, self.held = self.held, []
            await self._answer(websocket, request)
            for rest in held:
                await websocket.send(rest)
        self.closed += 1

    async def _answer(self, websocket: ServerConnection, request: dict) -> None:
        if request.get("type") == "cancel":
            await websocket.send(CHUNK)  # sent before the cancel was read: the gateway must drop it
            await websocket.send(json.dumps(CancelledMessage(context_id=self.received[-2]["context_id"]).wire()))
            return
        text = request.get("text", "")
        if "unsayable" in text:
            refusal = error_event("unspeakable_input", "nothing to say", param="text", context_id=request["context_id"])
            await websocket.send(json.dumps(refusal))
            return
        if "stall" in text:
            return
        await websocket.send(CHUNK)
        if "slowly" in text:
            return
        if "held" in text:
            self.held = [CHUNK, "END"]
            return
        await websocket.send(CHUNK)
        await websocket.send("END")


@pytest.fixture
async def stand_in() -> AsyncIterator[tuple[StandIn, str]]:
    server = StandIn()
    async with serve(server, "127.0.0.1", 0) as listening:
        port = listening.sockets[0].getsockname()[1]
        yield server, f"ws://127.0.0.1:{port}/ws"


def tts(url: str, timeout_secs: float = 2.0) -> VoiceTTSService:
    return VoiceTTSService(url=url, voice="af_heart", speed=1.0, timeout_secs=timeout_secs, first_phrase_max_words=4)


def reply(*texts: str) -> list:
    return [LLMFullResponseStartFrame(), *(LLMTextFrame(text) for text in texts), LLMFullResponseEndFrame(), SleepFrame(0.5)]


async def test_a_reply_goes_out_phrase_by_phrase_and_comes_back_as_one_context(stand_in):
    server, url = stand_in
    down, _up = await run_test(tts(url), frames_to_send=reply("One two three four five, ", "and the rest of it."))
    texts = [request["text"] for request in server.received]
    assert len(texts) >= 2, texts  # the first phrase left before the sentence ended
    assert len({request["context_id"] for request in server.received}) == 1
    kinds = [type(frame) for frame in down if isinstance(frame, (TTSStartedFrame, TTSAudioRawFrame, TTSStoppedFrame))]
    assert kinds == [TTSStartedFrame] + [TTSAudioRawFrame] * 2 * len(texts) + [TTSStoppedFrame]
    audio = [frame for frame in down if isinstance(frame, TTSAudioRawFrame)]
    assert {frame.context_id for frame in audio} == {server.received[0]["context_id"]}


async def test_a_phrase_the_server_refuses_is_reported_with_its_code_and_the_rest_is_spoken(stand_in):
    _server, url = stand_in
    down, up = await run_test(tts(url), frames_to_send=reply("unsayable words here, ", "then a good sentence."))
    errors = [frame for frame in up if isinstance(frame, UpstreamErrorFrame)]
    assert [(error.service, error.code) for error in errors] == [("tts", "tts_unspeakable_input")]
    assert [type(f) for f in down if isinstance(f, (TTSStartedFrame, TTSStoppedFrame))] == [TTSStartedFrame, TTSStoppedFrame]
    assert any(isinstance(frame, TTSAudioRawFrame) for frame in down)


async def test_a_reply_refused_ahead_of_the_last_replys_audio_fails_alone_and_the_next_reply_plays_at_once(stand_in):
    server, url = stand_in
    frames = [*reply("Said but held."), *reply("unsayable words."), *reply("Next one.")]
    started = time.monotonic()
    down, up = await run_test(tts(url, timeout_secs=10.0), frames_to_send=frames)
    elapsed = time.monotonic() - started
    first, _refused, last = (request["context_id"] for request in server.received)
    assert [frame.context_id for frame in down if isinstance(frame, TTSAudioRawFrame)] == [first, first, last, last]
    assert [frame.code for frame in up if isinstance(frame, UpstreamErrorFrame)] == ["tts_unspeakable_input"]
    assert elapsed < 5.0, f"{elapsed:.1f} s: a reply waited for the 10 s context timeout"


async def test_a_server_that_is_not_there_is_reported_as_unavailable():
    _down, up = await run_test(tts("ws://127.0.0.1:9/ws"), frames_to_send=reply("Hello there."))
    codes = [frame.code for frame in up if isinstance(frame, UpstreamErrorFrame)]
    assert codes and set(codes) == {"tts_unavailable"}, [f for f in up if isinstance(f, ErrorFrame)]


async def test_a_barge_in_cancels_the_synthesis_and_its_late_audio_is_dropped_while_the_next_reply_plays(stand_in):
    server, url = stand_in
    frames = [*reply("Tell it slowly."), InterruptionFrame(), SleepFrame(0.3), *reply("Next one.")]
    down, _up = await run_test(tts(url), frames_to_send=frames)
    assert [request.get("type") for request in server.received] == [None, "cancel", None]
    cut = next(i for i, frame in enumerate(down) if isinstance(frame, InterruptionFrame))
    before, after = down[:cut], down[cut:]
    assert sum(isinstance(frame, TTSAudioRawFrame) for frame in before) == 1
    next_reply = server.received[-1]["context_id"]
    assert [f.context_id for f in after if isinstance(f, TTSAudioRawFrame)] == [next_reply, next_reply]


async def test_a_server_that_stalls_mid_reply_is_reported_and_its_connection_closed(stand_in):
    server, url = stand_in
    _down, up = await run_test(tts(url, timeout_secs=0.4), frames_to_send=[*reply("Then stall."), SleepFrame(0.6)])
    assert "tts_stream_failed" in [frame.code for frame in up if isinstance(frame, UpstreamErrorFrame)]
    assert server.closed == 1
