"""Several requests at once on the one shared model: all succeed, none waits for another's
whole synthesis before its first byte, ``/health`` stays fast (synthesis is off the event loop),
and the calls that run beside another run on their share of the CPU threads, not all of them."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from support import health_times_while
from tts_helpers import REPLY, TIMEOUT_S, assert_speech, metric_samples
from voice_tts.engine import call_threads
from voice_tts.settings import TTSSettings

pytestmark = pytest.mark.slow

CONCURRENT = 4
# Two chunks each: the first sentence alone, then the second.
TWO_SENTENCES = ". ".join(REPLY.split(". ")[:2]) + "."


async def test_four_requests_stream_at_once_and_health_stays_fast(tts_http):
    async def speak(client: httpx.AsyncClient) -> tuple[float, float, bytes]:
        """(first byte at, done at, audio) of one streamed request."""
        body = {"model": "kokoro", "input": TWO_SENTENCES, "voice": "af_heart", "response_format": "pcm"}
        first_at, audio = None, b""
        async with client.stream("POST", "/v1/audio/speech", json=body) as response:
            assert response.status_code == 200
            async for data in response.aiter_raw():
                first_at = first_at or time.perf_counter()
                audio += data
        return first_at, time.perf_counter(), audio

    async with httpx.AsyncClient(base_url=tts_http, timeout=TIMEOUT_S) as client:
        before = await metric_samples(client)
        work = asyncio.gather(*(speak(client) for _ in range(CONCURRENT)))
        health_s = await health_times_while(client, work)
        results = await work
        after = await metric_samples(client)

    for _, _, audio in results:
        assert_speech(audio, TWO_SENTENCES)
    last_first_byte = max(first for first, _, _ in results)
    first_done = min(done for _, done, _ in results)
    # The seed's server synthesized one whole text at a time: the 4th first byte came after 3 whole replies.
    assert last_first_byte < first_done, "a request got its first byte only after another's whole reply"
    assert len(health_s) > 5 and max(health_s) < 1.0, f"/health was slow while synthesizing: max {max(health_s):.2f} s"
    # The server runs on this machine's CPUs with the default settings, as this test reads them.
    alone, beside_another = call_threads(TTSSettings())
    if beside_another != alone:
        key = ("tts_model_calls_total", (("threads", str(beside_another)),))
        calls = after.get(key, 0.0) - before.get(key, 0.0)
        assert calls >= CONCURRENT, f"{calls:g} of the calls ran on {beside_another} thread(s) beside another"
