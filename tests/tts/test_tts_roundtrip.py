"""TTS output is intelligible: the real STT server hears the words in it, from both endpoints."""

from __future__ import annotations

import json

import httpx
import pytest

from tts_helpers import FOX, REPLY, SAMPLE_RATE, TIMEOUT_S, connect, receive_until_text
from voice_testkit.speech import words

pytestmark = pytest.mark.slow


async def transcribe(stt_url: str, pcm: bytes) -> str:
    async with httpx.AsyncClient(base_url=stt_url, timeout=TIMEOUT_S) as stt:
        response = await stt.post(
            "/v1/audio/transcriptions", files={"file": ("tts.pcm", pcm)}, data={"sample_rate": str(SAMPLE_RATE)}
        )
    response.raise_for_status()
    return response.json()["text"]


async def test_speech_endpoint_round_trip(http, stt_server):
    response = await http.post("/v1/audio/speech", json={"input": REPLY, "voice": "af_heart", "response_format": "pcm"})
    heard = words(await transcribe(stt_server.spec.base_url, response.content))
    assert {"paris", "capital", "france", "river", "north", "million", "people", "city"} <= heard, heard


async def test_websocket_round_trip(tts_ws, stt_server):
    async with connect(tts_ws) as ws:
        await ws.send(json.dumps({"text": FOX, "config": {"voice": "am_michael", "speed": 1.0}}))
        spoken = await receive_until_text(ws)
    heard = words(await transcribe(stt_server.spec.base_url, spoken.pcm))
    assert {"quick", "brown", "fox", "lazy", "dog"} <= heard, heard
