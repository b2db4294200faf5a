"""Probes, Prometheus metrics and ``POST /v1/audio/transcriptions`` (OpenAI-compatible) on the real server."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
import pytest_asyncio

from stt_helpers import TIMEOUT_S, connect, metric_samples, patched_wav
from voice_common.audio import wav_bytes
from voice_stt.settings import STTSettings
from voice_testkit.speech import CAPITAL, CAPITAL_WORDS, FOX, FOX_WORDS, silence, words

pytestmark = pytest.mark.slow

MAX_UPLOAD_SECONDS = STTSettings.model_fields["max_upload_seconds"].default
SHORT_WAV = wav_bytes(silence(0.5), 16000)


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
        (SHORT_WAV, {"response_format": "srt"}, 400, "invalid_request", "response_format"),
        (SHORT_WAV, {"language": "xx"}, 400, "unsupported_language", "language"),
    ],
    ids=["raw-without-rate", "broken-wav", "odd-pcm", "bad-rate", "bad-format", "bad-language"],
)
async def test_bad_requests_get_openai_style_errors(http, content, fields, status, code, param):
    response = await transcribe(http, content, **fields)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["code"], error["param"]) == (code, param) and error["message"], error


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        ({"channels": 65535}, "65535 channels"),
        ({"channels": 0}, "channels"),
        ({"sample_rate": 0}, "0 Hz"),
        ({"sample_rate": 4_000_000_000}, "4000000000 Hz"),
        ({"data_size": 0xFFFFFFFF}, "data chunk declares"),  # longer than the file
        ({"data_size": 0}, "data chunk declares 0 bytes"),  # a streaming writer's unfinished header
        ({"bits": 8}, "16-bit"),
        ({"format": 3}, "format"),  # IEEE float
    ],
    ids=["65535-channels", "0-channels", "0-hz", "4-ghz", "data-past-the-end", "data-size-0", "8-bit", "float"],
)
async def test_a_wav_with_a_nonsense_header_is_refused_naming_the_problem(http, header, problem):
    response = await transcribe(http, patched_wav(SHORT_WAV, **header))
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("unsupported_format", "file"), error
    assert problem in error["message"], error


async def test_audio_over_the_duration_cap_is_refused_413_before_any_decode(http):
    rate = 8000  # the fewest bytes for the most seconds
    noise = np.random.default_rng(0).integers(-8000, 8000, int((MAX_UPLOAD_SECONDS + 1) * rate), dtype="<i2")
    decoded_before = metric_samples((await http.get("/metrics")).text)[("stt_audio_seconds_total", ())]
    response = await transcribe(http, wav_bytes(noise.tobytes(), rate))
    assert response.status_code == 413, response.text
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("audio_too_long", "file") and f"{MAX_UPLOAD_SECONDS:g} s" in error["message"]
    decoded_after = metric_samples((await http.get("/metrics")).text)[("stt_audio_seconds_total", ())]
    assert decoded_after == decoded_before, "the refused audio was decoded"


async def test_missing_file_is_a_400_with_the_same_shape(http):
    response = await http.post("/v1/audio/transcriptions", data={"model": "whisper-1"})
    assert response.status_code == 400 and response.json()["error"]["param"] == "file", response.text


async def test_metrics_count_latency_audio_sessions_and_errors(http, stt_ws, speech):
    async with connect(stt_ws + "/ws") as ws:
        await ws.send(speech(CAPITAL))
        await ws.recv()
        await ws.send("not audio")
        await ws.recv()
    samples = metric_samples((await http.get("/metrics")).text)
    assert samples[("stt_request_latency_seconds_count", (("endpoint", "ws"),))] >= 1
    assert samples[("stt_audio_seconds_total", ())] >= len(speech(CAPITAL)) / 32000
    assert samples[("stt_real_time_factor_count", ())] >= 1
    assert samples[("stt_errors_total", (("code", "bad_message"),))] >= 1
    assert ("stt_active_sessions", ()) in samples
