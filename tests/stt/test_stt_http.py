"""Probes, Prometheus metrics and ``POST /v1/audio/transcriptions`` (OpenAI-compatible) on the real server."""

from __future__ import annotations

import httpx
import pytest
import pytest_asyncio
from prometheus_client.parser import text_string_to_metric_families
from stt_helpers import CAPITAL, CAPITAL_WORDS, FOX, FOX_WORDS, TIMEOUT_S, connect, silence, words

from voice_common.audio import wav_bytes

pytestmark = pytest.mark.slow


@pytest_asyncio.fixture(loop_scope="function")  # the tests' loop, not the session-wide fixture loop
async def http(stt_http):
    async with httpx.AsyncClient(base_url=stt_http, timeout=TIMEOUT_S) as client:
        yield client


async def transcribe(http: httpx.AsyncClient, content: bytes, filename: str = "speech.wav", **fields: str) -> httpx.Response:
    return await http.post("/v1/audio/transcriptions", files={"file": (filename, content)}, data={"model": "whisper-1", **fields})


async def test_probes(http):
    assert (await http.get("/health")).json() == {"status": "ok"}
    ready = await http.get("/ready")
    assert ready.status_code == 200 and ready.json()["ready"] is True


async def test_wav_in_every_response_format(http, speech):
    wav = wav_bytes(speech(CAPITAL), 16000)
    as_json = await transcribe(http, wav, language="en")
    assert as_json.status_code == 200 and CAPITAL_WORDS <= words(as_json.json()["text"]), as_json.text

    as_text = await transcribe(http, wav, response_format="text")
    assert as_text.headers["content-type"].startswith("text/plain") and CAPITAL_WORDS <= words(as_text.text)

    verbose = (await transcribe(http, wav, response_format="verbose_json")).json()
    assert verbose["language"] == "en" and abs(verbose["duration"] - len(speech(CAPITAL)) / 32000) < 0.01
    assert verbose["segments"] and CAPITAL_WORDS <= words(" ".join(s["text"] for s in verbose["segments"]))
    assert all(0 <= s["start"] <= s["end"] for s in verbose["segments"]), verbose


async def test_raw_pcm_with_its_sample_rate(http, speech):
    response = await transcribe(http, speech(FOX, sample_rate=24000), "speech.pcm", sample_rate="24000")
    assert response.status_code == 200 and FOX_WORDS <= words(response.json()["text"]), response.text


async def test_silence_is_empty_text(http):
    response = await transcribe(http, wav_bytes(silence(1.0), 16000))
    assert response.json() == {"text": ""}


@pytest.mark.parametrize(
    ("content", "fields", "status", "code", "param"),
    [
        (silence(0.5), {}, 400, "unsupported_format", "file"),
        (b"RIFF-not-really-a-wav", {}, 400, "unsupported_format", "file"),
        (b"\x00\x01\x02", {"sample_rate": "16000"}, 400, "odd_length_frame", "file"),
        (silence(0.5), {"sample_rate": "96000"}, 400, "unsupported_sample_rate", "sample_rate"),
        (wav_bytes(silence(0.5), 16000), {"response_format": "srt"}, 400, "invalid_request", "response_format"),
        (wav_bytes(silence(0.5), 16000), {"language": "xx"}, 400, "unsupported_language", "language"),
    ],
    ids=["raw-without-rate", "broken-wav", "odd-pcm", "bad-rate", "bad-format", "bad-language"],
)
async def test_bad_requests_get_openai_style_errors(http, content, fields, status, code, param):
    response = await transcribe(http, content, **fields)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["code"], error["param"]) == (code, param) and error["message"], error


async def test_missing_file_is_a_400_with_the_same_shape(http):
    response = await http.post("/v1/audio/transcriptions", data={"model": "whisper-1"})
    assert response.status_code == 400 and response.json()["error"]["param"] == "file", response.text


async def test_metrics_count_latency_audio_sessions_and_errors(http, stt_ws, speech):
    async with connect(stt_ws + "/ws") as ws:
        await ws.send(speech(CAPITAL))
        await ws.recv()
        await ws.send("not audio")
        await ws.recv()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families((await http.get("/metrics")).text)
        for s in family.samples
    }
    assert samples[("stt_request_latency_seconds_count", (("endpoint", "ws"),))] >= 1
    assert samples[("stt_audio_seconds_total", ())] >= len(speech(CAPITAL)) / 32000
    assert samples[("stt_real_time_factor_count", ())] >= 1
    assert samples[("stt_errors_total", (("code", "bad_message"),))] >= 1
    assert ("stt_active_sessions", ()) in samples
