"""The faster English-only model that ``make models`` assembles beside the default
(``STT_MODEL_PATH=models/whisper-tiny.en``): a real server on it hears English callers, says
which model it serves, and tells a client that asks for another language that it cannot."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from stt_helpers import connect, flush, listening, recv_json, send_audio
from voice_agent.processes import ServiceProcess
from voice_testkit.services import start_service
from voice_testkit.speech import CAPITAL, CAPITAL_WORDS, FOX, FOX_WORDS, words

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_en(models_dir: Path) -> Iterator[ServiceProcess]:
    proc = start_service("stt", "voice_stt", {"STT_MODEL_PATH": str(models_dir / "whisper-tiny.en")})
    yield proc
    proc.stop()


async def test_tiny_en_transcribes_english_and_names_its_model(tiny_en, speech):
    base = tiny_en.spec.base_url
    async with httpx.AsyncClient() as client:
        ready = (await client.get(base + "/ready")).json()
    assert ready["model"].endswith("whisper-tiny.en"), ready
    async with listening(base.replace("http://", "ws://", 1)) as ws:
        for sentence, expected in ((CAPITAL, CAPITAL_WORDS), (FOX, FOX_WORDS)):
            await send_audio(ws, speech(sentence))
            final = await flush(ws)
            assert expected <= words(final["text"]), final


async def test_tiny_en_refuses_another_language_clearly(tiny_en):
    async with connect(tiny_en.spec.base_url.replace("http://", "ws://", 1) + "/v1/listen") as ws:
        await ws.send(json.dumps({"type": "start", "language": "de"}))
        error = await recv_json(ws)
        assert error["type"] == "error" and error["code"] == "bad_message", error
        assert "'de'" in error["message"], error
        await ws.send(json.dumps({"type": "start", "language": "en"}))  # the session is still usable
        assert (await recv_json(ws))["type"] == "ready"
