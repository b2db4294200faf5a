"""``WS /ws``: the seed's Kokoro protocol (JSON or plain text in, PCM frames then ``END`` out)
plus ``cancel`` for barge-in, acknowledged at once and followed by no stale audio."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from tts_helpers import FOX, LONG, REPLY, assert_speech, connect, metric_samples, receive_until_text, seconds

pytestmark = pytest.mark.slow

CANCEL_ACK_BOUND_S = 5.0  # a generous bound for a loaded 2-core machine; the ack needs no synthesis
CANCELLED = {"type": "cancel"}


async def test_json_text_streams_audio_frames_then_end(tts_ws):
    async with connect(tts_ws) as ws:
        await ws.send(json.dumps({"text": FOX, "config": {"voice": "af_heart", "speed": 1.0}}))
        spoken = await receive_until_text(ws)
    assert spoken.final == "END"
    assert len(spoken.frames) >= 3, f"{len(spoken.frames)} frames: the audio was not streamed in pieces"
    assert_speech(spoken.pcm, FOX)


async def test_plain_text_is_spoken_with_the_default_voice(tts_ws):
    async with connect(tts_ws) as ws:
        await ws.send(FOX)
        spoken = await receive_until_text(ws)
    assert spoken.final == "END"
    assert_speech(spoken.pcm, FOX)


async def test_texts_sent_together_are_spoken_in_order(tts_ws):
    async with connect(tts_ws) as ws:
        await ws.send(json.dumps({"text": "Yes.", "context_id": "a"}))
        await ws.send(json.dumps({"text": FOX, "context_id": "b"}))
        short, long = await receive_until_text(ws), await receive_until_text(ws)
    assert short.final == long.final == "END"
    assert seconds(short.pcm) < 2.0 < seconds(long.pcm), (seconds(short.pcm), seconds(long.pcm))
    assert_speech(long.pcm, FOX)


async def test_cancel_stops_the_audio_at_once_and_is_acknowledged(tts_ws, http):
    async with connect(tts_ws) as ws:
        await ws.send(json.dumps({"text": LONG, "context_id": "turn-1"}))
        first = await asyncio.wait_for(ws.recv(), 60)
        assert isinstance(first, bytes)
        cancelled_at = time.perf_counter()
        await ws.send(json.dumps(CANCELLED))
        spoken = await receive_until_text(ws)
        ack_s = time.perf_counter() - cancelled_at
        assert spoken.final == {"type": "cancelled", "context_id": "turn-1"}, spoken.final
        assert ack_s < CANCEL_ACK_BOUND_S, f"cancel acknowledged after {ack_s:.1f} s"
        heard = seconds(first + spoken.pcm)
        assert heard < 20.0, f"{heard:.1f} s of audio came after the cancel of a ~60 s text"

        # Nothing of the cancelled text follows the ack: the next text's audio is exactly its own.
        await ws.send(FOX)
        after = await receive_until_text(ws)
        assert after.final == "END"
        assert_speech(after.pcm, FOX)

    # The model run was stopped, not left to finish its chunk: no synthesis is left streaming.
    deadline = time.perf_counter() + CANCEL_ACK_BOUND_S
    # Another process's counters: there is no event to wait on, only its /metrics to poll.
    while (await metric_samples(http))[("tts_active_streams", ())] and time.perf_counter() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    samples = await metric_samples(http)
    assert samples[("tts_active_streams", ())] == 0 and samples[("tts_cancellations_total", ())] >= 1


async def test_an_idle_cancel_is_acknowledged(tts_ws):
    async with connect(tts_ws) as ws:
        await ws.send(json.dumps(CANCELLED))
        spoken = await receive_until_text(ws)
    assert spoken.final == {"type": "cancelled", "context_id": None} and not spoken.frames


async def test_cancel_drops_the_queued_texts_too(tts_ws):
    async with connect(tts_ws) as ws:
        await ws.send(json.dumps({"text": REPLY, "context_id": "a"}))
        await ws.send(json.dumps({"text": REPLY, "context_id": "b"}))
        await ws.send(json.dumps(CANCELLED))
        ack = await receive_until_text(ws)
        assert ack.final == {"type": "cancelled", "context_id": "a"}, ack.final
        await ws.send(FOX)
        after = await receive_until_text(ws)
    assert after.final == "END"
    assert_speech(after.pcm, FOX)  # REPLY's audio ("b") would make it far too long
