"""``WS /v1/listen`` against the real server and weights: transcripts, segments, rates, partials, control."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stt_helpers import FRAME_BYTES, close_code, flush, listening, recv_json, send_audio
from voice_testkit.speech import CAPITAL, CAPITAL_WORDS, FOX, FOX_WORDS, LIGHTS, LIGHTS_WORDS, silence, words

pytestmark = pytest.mark.slow


async def test_flush_returns_the_words_and_opens_the_next_segment(stt_ws, speech):
    async with listening(stt_ws) as ws:
        pcm = speech(CAPITAL)
        await send_audio(ws, pcm)
        final = await flush(ws)
        assert CAPITAL_WORDS <= words(final["text"]), final
        assert final["segment"] == 0
        assert abs(final["audio_ms"] - len(pcm) / 32) <= 1
        assert final["latency_ms"] >= 0

        await send_audio(ws, speech(FOX))
        final = await flush(ws)
        assert FOX_WORDS <= words(final["text"]), final
        assert not CAPITAL_WORDS & words(final["text"]), "the previous segment must not leak into the next"
        assert final["segment"] == 1


async def test_silence_and_empty_segments_get_an_empty_final(stt_ws):
    quiet_noise = (np.random.default_rng(1).normal(0, 10, 16000)).astype("<i2").tobytes()  # about -70 dBFS
    async with listening(stt_ws) as ws:
        for pcm in (silence(1.0), quiet_noise, b""):
            await send_audio(ws, pcm)
            final = await flush(ws)
            assert final["text"] == "", final
        assert final["segment"] == 2


@pytest.mark.parametrize("rate", [8000, 48000])
async def test_other_sample_rates_are_resampled(stt_ws, speech, rate):
    async with listening(stt_ws, sample_rate=rate) as ws:
        await send_audio(ws, speech(LIGHTS, sample_rate=rate), frame_bytes=rate // 50 * 2)
        final = await flush(ws)
        assert LIGHTS_WORDS <= words(final["text"]), final


async def test_interim_results_send_partials_before_the_final(stt_ws, speech):
    pcm = speech(FOX) + silence(0.5)
    events = []
    async with listening(stt_ws, interim_results=True) as ws:
        await send_audio(ws, pcm, frame_bytes=3200, pace_s=0.1)  # real time: 100 ms frames every 100 ms
        await ws.send(json.dumps({"type": "flush"}))
        while not events or events[-1]["type"] != "final":
            events.append(await recv_json(ws))
    partials = [e for e in events if e["type"] == "partial"]
    assert partials, events
    assert all(p["segment"] == 0 and p["text"] for p in partials), partials
    assert words(partials[-1]["text"]) & FOX_WORDS, partials
    assert FOX_WORDS <= words(events[-1]["text"]), events


async def test_resume_decodes_a_paused_utterance_whole_and_revises_the_first_final(stt_ws, speech):
    """A pause that did not end the caller's turn: the flushed half comes back in front of the rest."""
    pcm = speech(CAPITAL)
    cut = len(pcm) // 2 // FRAME_BYTES * FRAME_BYTES  # mid-utterance, on a frame boundary
    async with listening(stt_ws) as ws:
        await send_audio(ws, pcm[:cut])
        first = await flush(ws)
        assert first["segment"] == 0 and not CAPITAL_WORDS <= words(first["text"]), first

        await ws.send(json.dumps({"type": "resume"}))
        await send_audio(ws, silence(0.2) + pcm[cut:])
        whole = await flush(ws)
        assert whole["segment"] == 1 and whole["revises"] == 0, whole
        assert {"what", *CAPITAL_WORDS} <= words(whole["text"]), whole
        assert abs(whole["audio_ms"] - (len(pcm) / 32 + 200)) <= 1, whole

        await send_audio(ws, speech(FOX))  # the next flush is a new utterance again
        final = await flush(ws)
        assert "revises" not in final and not CAPITAL_WORDS & words(final["text"]), final


async def test_reset_drops_the_buffered_audio(stt_ws, speech):
    async with listening(stt_ws) as ws:
        await send_audio(ws, speech(CAPITAL))
        await ws.send(json.dumps({"type": "reset"}))
        final = await flush(ws)
        assert final["text"] == "" and final["audio_ms"] == 0, final


async def test_stop_flushes_then_closes_normally(stt_ws, speech):
    async with listening(stt_ws) as ws:
        await send_audio(ws, speech(LIGHTS))
        await ws.send(json.dumps({"type": "stop"}))
        final = await recv_json(ws)
        assert final["type"] == "final" and LIGHTS_WORDS <= words(final["text"]), final
        assert await close_code(ws) == 1000
