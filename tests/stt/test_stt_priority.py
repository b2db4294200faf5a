"""Live turns come before file uploads: with two long uploads decoding, a caller's flush is still
answered at once instead of waiting behind a whole file (the probe saw 219 ms become 8.2 s)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from stt_helpers import TIMEOUT_S, flush, listening, metric_samples, send_audio
from voice_common.audio import wav_bytes
from voice_testkit.speech import CAPITAL, CAPITAL_WORDS, FOX_WORDS, long_speech, words

pytestmark = pytest.mark.slow

UPLOAD_SECONDS = 100  # several 30 s windows: long enough to hold a slot for many seconds on CPU
UPLOAD_TIMEOUT_S = 300  # two of them decode one after the other on a loaded 2-core machine


async def uploads_in_flight(client: httpx.AsyncClient) -> int:
    """Uploads the server is decoding or holding for a slot, from its metrics."""
    samples = metric_samples((await client.get("/metrics")).text)
    labels = (("priority", "upload"),)
    return int(samples[("stt_decodes_running", labels)] + samples[("stt_decodes_waiting", labels)])


async def test_a_live_flush_gets_its_final_before_either_of_two_long_uploads_completes(stt_ws, stt_http, speech):
    upload = wav_bytes(long_speech(UPLOAD_SECONDS), 16000)
    question = speech(CAPITAL)
    completed: list[int] = []

    async with httpx.AsyncClient(base_url=stt_http, timeout=UPLOAD_TIMEOUT_S) as client:

        async def transcribed(index: int) -> httpx.Response:
            response = await client.post("/v1/audio/transcriptions", files={"file": ("long.wav", upload)})
            completed.append(index)
            return response

        uploads = [asyncio.create_task(transcribed(index)) for index in range(2)]
        deadline = asyncio.get_running_loop().time() + TIMEOUT_S
        while await uploads_in_flight(client) < 2:
            assert asyncio.get_running_loop().time() < deadline and not completed, "the uploads never reached the decoder"
            await asyncio.sleep(0.05)

        async with listening(stt_ws) as ws:
            await send_audio(ws, question)
            final = await flush(ws)
        completed_before_final = list(completed)
        responses = await asyncio.gather(*uploads)

    assert completed_before_final == [], "the live flush waited for a whole upload"
    assert CAPITAL_WORDS <= words(final["text"]), final
    for response in responses:  # decoded window by window, start to end
        assert response.status_code == 200, response.text
        text = response.json()["text"]
        assert FOX_WORDS <= words(text) and CAPITAL_WORDS <= words(text), text
