"""Bad input on both endpoints: a 4xx (HTTP) or an error event (WS) naming the field, and
the server (and the WebSocket session) goes on."""

from __future__ import annotations

import json

import pytest
from tts_helpers import connect, receive_until_text

from voice_tts.settings import TTSSettings

pytestmark = pytest.mark.slow

MAX_CHARS = TTSSettings.model_fields["max_input_chars"].default
TOO_LONG = "Hello there. " * (MAX_CHARS // 13 + 1)
GOOD = {"model": "kokoro", "input": "Hi.", "voice": "af_heart", "speed": 1.0, "response_format": "pcm"}


@pytest.mark.parametrize(
    ("changes", "code", "param"),
    [
        ({"input": ""}, "empty_input", "input"),
        ({"input": "   \n"}, "empty_input", "input"),
        ({"input": None}, "empty_input", "input"),
        ({"input": TOO_LONG}, "input_too_long", "input"),
        ({"voice": "xx_nobody"}, "unknown_voice", "voice"),
        ({"speed": 3.0}, "invalid_speed", "speed"),
        ({"speed": 0.1}, "invalid_speed", "speed"),
        ({"speed": "fast"}, "invalid_speed", "speed"),
        ({"response_format": "mp3"}, "unsupported_response_format", "response_format"),
        ({"model": "whisper-1"}, "unknown_model", "model"),
        ({"stream": "yes"}, "invalid_stream", "stream"),
    ],
    ids=["empty", "blank", "missing", "too-long", "voice", "too-fast", "too-slow", "speed-text", "format", "model", "stream"],
)
async def test_bad_speech_requests_get_a_400_naming_the_field(http, changes, code, param):
    response = await http.post("/v1/audio/speech", json={**GOOD, **changes})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error["param"]) == (code, param) and error["message"], error


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b"\xff\xfe"], ids=["broken", "array", "binary"])
async def test_a_body_that_is_not_a_json_object_is_a_400(http, body):
    response = await http.post("/v1/audio/speech", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400 and response.json()["error"]["param"] == "body", response.text


async def test_the_server_still_speaks_after_bad_requests(http):
    response = await http.post("/v1/audio/speech", json=GOOD)
    assert response.status_code == 200 and len(response.content) > 0


@pytest.mark.parametrize(
    ("message", "code", "param"),
    [
        ({"text": ""}, "empty_input", "text"),
        ({"config": {"voice": "af_heart"}}, "empty_input", "text"),
        ({"text": TOO_LONG}, "input_too_long", "text"),
        ({"text": "Hi.", "config": {"voice": "xx_nobody"}}, "unknown_voice", "config.voice"),
        ({"text": "Hi.", "config": {"speed": 9}}, "invalid_speed", "config.speed"),
        ({"text": "Hi.", "config": {"speed": "fast"}}, "invalid_speed", "config.speed"),
        ({"text": "Hi.", "config": "af_heart"}, "bad_message", None),
        ({"type": "shout", "text": "Hi."}, "unknown_type", None),
        (b"\x00\x01", "expected_text", None),
    ],
    ids=["empty", "no-text", "too-long", "voice", "speed", "speed-text", "config", "type", "binary"],
)
async def test_bad_ws_messages_get_an_error_event_and_the_session_goes_on(tts_ws, message, code, param):
    async with connect(tts_ws) as ws:
        await ws.send(message if isinstance(message, bytes) else json.dumps(message))
        error = (await receive_until_text(ws)).final
        assert error["type"] == "error" and error["code"] == code and error["message"], error
        assert error.get("param") == param, error
        await ws.send("Hi.")
        spoken = await receive_until_text(ws)
        assert spoken.final == "END" and spoken.pcm
