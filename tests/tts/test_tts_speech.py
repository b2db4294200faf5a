"""``POST /v1/audio/speech`` (OpenAI / Kokoro-FastAPI compatible), voices and probes on the real server."""

from __future__ import annotations

import struct

import httpx
import pytest

from tts_helpers import FOX, REPLY, SAMPLE_RATE, assert_speech, seconds
from voice_common.audio import read_wav

pytestmark = pytest.mark.slow


def request(text: str, **fields: object) -> dict:
    return {"model": "kokoro", "input": text, "voice": "af_heart", "response_format": "pcm", **fields}


async def test_probes_and_voices(http):
    assert (await http.get("/health")).json() == {"status": "ok"}
    ready = await http.get("/ready")
    assert ready.status_code == 200 and ready.json()["ready"] is True, ready.text
    voices = (await http.get("/v1/audio/voices")).json()
    assert voices["default"] == "af_heart" and {"af_heart", "am_michael", "bf_emma"} <= set(voices["voices"]), voices
    assert ready.json()["voices"] == len(voices["voices"])


async def test_pcm_is_audible_24khz_speech_of_the_right_length(http):
    response = await http.post("/v1/audio/speech", json=request(FOX))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("audio/pcm") and response.headers["x-sample-rate"] == str(SAMPLE_RATE)
    assert_speech(response.content, FOX)


async def test_streamed_wav_has_a_24khz_mono_16bit_header_then_the_pcm(http):
    response = await http.post("/v1/audio/speech", json=request(FOX, response_format="wav"))
    assert response.status_code == 200 and response.headers["content-type"] == "audio/wav", response.text
    riff, _, wave, fmt, fmt_size, encoding, channels, rate, byte_rate, align, bits, data = struct.unpack(
        "<4sI4s4sIHHIIHH4s", response.content[:40]
    )
    assert (riff, wave, fmt, fmt_size, data) == (b"RIFF", b"WAVE", b"fmt ", 16, b"data")
    assert (encoding, channels, rate, byte_rate, align, bits) == (1, 1, SAMPLE_RATE, 2 * SAMPLE_RATE, 2, 16)
    assert_speech(response.content[44:], FOX)


async def test_unstreamed_wav_is_a_complete_file(http):
    response = await http.post("/v1/audio/speech", json=request(FOX, response_format="wav", stream=False))
    assert response.status_code == 200, response.text
    pcm, rate = read_wav(response.content)
    assert rate == SAMPLE_RATE and len(pcm) == len(response.content) - 44
    assert_speech(pcm, FOX)


async def test_audio_streams_while_the_rest_is_synthesized(tts_http):
    """The first bytes arrive before the reply is synthesized: the first sentence comes alone."""
    reads: list[bytes] = []
    async with (
        httpx.AsyncClient(base_url=tts_http, timeout=60) as client,
        client.stream("POST", "/v1/audio/speech", json=request(REPLY)) as response,
    ):
        assert response.status_code == 200
        async for data in response.aiter_raw():
            reads.append(data)
    pcm = b"".join(reads)
    assert_speech(pcm, REPLY)
    assert len(reads) >= 2, "the whole reply came in one read"
    # The first read holds at most the first sentence (about 2 s of the reply's 10 s or so).
    assert seconds(reads[0]) < seconds(pcm) / 2, (seconds(reads[0]), seconds(pcm))


async def test_speed_changes_the_length(http):
    normal = (await http.post("/v1/audio/speech", json=request(FOX))).content
    fast = (await http.post("/v1/audio/speech", json=request(FOX, speed=2.0))).content
    assert seconds(fast) < 0.75 * seconds(normal), (seconds(fast), seconds(normal))


async def test_openai_defaults_other_voice_and_model_alias(http):
    """What an OpenAI client sends: ``tts-1``, no format (WAV here), a Kokoro voice name."""
    response = await http.post("/v1/audio/speech", json={"model": "tts-1", "input": FOX, "voice": "bf_emma"})
    assert response.status_code == 200 and response.headers["content-type"] == "audio/wav", response.text
    assert_speech(response.content[44:], FOX)
