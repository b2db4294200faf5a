"""Concurrent streaming, legacy and HTTP requests on the one shared model all succeed, and the
server stays responsive (``/health``) while decodes run off the event loop."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from stt_helpers import TIMEOUT_S, connect, flush, listening, send_audio
from support import health_times_while
from voice_common.audio import wav_bytes
from voice_testkit.speech import CAPITAL, CAPITAL_WORDS, FOX, FOX_WORDS, LIGHTS, LIGHTS_WORDS, words

pytestmark = pytest.mark.slow

CASES = [(CAPITAL, CAPITAL_WORDS), (FOX, FOX_WORDS), (LIGHTS, LIGHTS_WORDS)]


async def test_concurrent_requests_all_succeed_and_health_stays_fast(stt_ws, stt_http, speech):
    for text, _ in CASES:
        speech(text)  # synthesize up front so the requests really overlap

    async def streamed(text: str) -> str:
        async with listening(stt_ws) as ws:
            await send_audio(ws, speech(text))
            return (await flush(ws))["text"]

    async def legacy(text: str) -> str:
        async with connect(stt_ws + "/ws") as ws:
            await ws.send(speech(text))
            return await asyncio.wait_for(ws.recv(), TIMEOUT_S)

    async def uploaded(client: httpx.AsyncClient, text: str) -> str:
        response = await client.post("/v1/audio/transcriptions", files={"file": ("a.wav", wav_bytes(speech(text), 16000))})
        response.raise_for_status()
        return response.json()["text"]

    async with httpx.AsyncClient(base_url=stt_http, timeout=TIMEOUT_S) as client:
        jobs = [streamed(t) for t, _ in CASES]
        jobs += [legacy(CASES[0][0]), uploaded(client, CASES[1][0]), uploaded(client, CASES[2][0])]
        expected = [w for _, w in CASES] + [CASES[0][1], CASES[1][1], CASES[2][1]]
        work = asyncio.gather(*jobs)
        health_s = await health_times_while(client, work)
        texts = await work

    for text, want in zip(texts, expected, strict=True):
        assert want <= words(text), (text, want)
    assert len(health_s) > 5 and max(health_s) < 1.0, f"/health was slow while decoding: max {max(health_s):.2f} s"
