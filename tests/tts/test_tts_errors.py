"""Bad input on both endpoints: a 4xx (HTTP) or an error event (WS) naming the field, and
the server (and the WebSocket session) goes on. Includes hostile JSON (deep nesting, huge
integers, oversized bodies) and text with nothing to speak, refused before any audio."""

from __future__ import annotations

import json

import pytest
import websockets

from tts_helpers import connect, receive_until_text
from voice_tts.settings import TTSSettings

pytestmark = pytest.mark.slow

MAX_CHARS = TTSSettings.model_fields["max_input_chars"].default
TOO_LONG = "Hello there. " * (MAX_CHARS // 13 + 1)
GOOD = {"model": "kokoro", "input": "Hi.", "voice": "af_heart", "speed": 1.0, "response_format": "pcm"}
HUGE_INT = "1" * 5000  # over Python's 4300-digit int parsing limit
DEEP_OBJECT = '{"a":' * 10_000  # json.loads recurses once per level
# Text a voice cannot say, as JSON string contents: controls, a lone surrogate (valid JSON, not
# valid UTF-8), a zero-width space, punctuation only.
UNSPEAKABLE = [r"\u0000", r"\ud800", r"\u0001\u0002 \u007f", r"\u200b", "!!!", "…", "((( )))"]
UNSPEAKABLE_IDS = ["nul", "lone-surrogate", "controls", "zero-width", "bangs", "ellipsis", "brackets"]


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


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", "invalid_json"),
        (b"[1, 2]", "bad_message"),
        (b"\xff\xfe", "invalid_json"),
        (b"[" * 50_000, "invalid_json"),
        (DEEP_OBJECT.encode(), "invalid_json"),
        (b'{"input": ' + HUGE_INT.encode() + b"}", "invalid_json"),
    ],
    ids=["broken", "array", "binary", "deep-array", "deep-object", "huge-int"],
)
async def test_a_body_that_is_not_a_json_object_is_a_400(http, body, code):
    response = await http.post("/v1/audio/speech", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == "body" and response.json()["error"]["code"] == code, response.text


@pytest.mark.parametrize("body", [b"[" * 100_000, b'{"input": "' + b"a" * 100_000 + b'"}'], ids=["deep", "long"])
async def test_a_body_over_the_limit_is_a_413_without_reading_it_all(http, body):
    response = await http.post("/v1/audio/speech", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 413 and response.json()["error"]["code"] == "message_too_large", response.text


@pytest.mark.parametrize("text", UNSPEAKABLE, ids=UNSPEAKABLE_IDS)
@pytest.mark.parametrize(
    "options", ['"response_format": "pcm"', '"response_format": "wav", "stream": false'], ids=["streamed", "file"]
)
async def test_text_with_nothing_to_speak_is_a_400_not_a_cut_200(http, text, options):
    body = f'{{"input": "{text}", {options}}}'.encode()
    response = await http.post("/v1/audio/speech", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("unspeakable_input", "input"), error


async def test_unspeakable_characters_inside_speech_are_skipped(http):
    body = b'{"input": "Hello\\u0000 there \\ud800 friend.", "response_format": "pcm"}'
    response = await http.post("/v1/audio/speech", content=body)
    assert response.status_code == 200 and response.content, response.text


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
        ({"text": "Hi.", "context_id": 7}, "bad_message", "context_id"),
        (b"\x00\x01", "expected_text", None),
        ("{not json", "invalid_json", None),
        ('{"text": "Hi."} and more', "invalid_json", None),
        (DEEP_OBJECT, "invalid_json", None),
        ('{"text": ' + HUGE_INT + "}", "invalid_json", None),
        ("[" * 50_000, "input_too_long", "text"),  # not an object: plain text, too long to say
        *((f'{{"text": "{text}"}}', "unspeakable_input", "text") for text in UNSPEAKABLE),
        ("\u0000\u0001", "unspeakable_input", "text"),
    ],
    ids=[
        "empty", "no-text", "too-long", "voice", "speed", "speed-text", "config", "type", "context-id", "binary",
        "broken-json", "trailing", "deep-object", "huge-int", "deep-array-text",
        *(f"unspeakable-{name}" for name in UNSPEAKABLE_IDS), "plain-controls",
    ],
)
async def test_bad_ws_messages_get_an_error_event_and_the_session_goes_on(tts_ws, message, code, param):
    async with connect(tts_ws) as ws:
        await ws.send(message if isinstance(message, (bytes, str)) else json.dumps(message))
        error = (await receive_until_text(ws)).final
        assert error["type"] == "error" and error["code"] == code and error["message"], error
        assert error.get("param") == param, error
        await ws.send("Hi.")
        spoken = await receive_until_text(ws)
        assert spoken.final == "END" and spoken.pcm


async def test_a_ws_error_about_one_request_echoes_its_context_id_though_it_may_overtake_earlier_audio(tts_ws):
    async with connect(tts_ws) as ws:
        await ws.send(json.dumps({"text": "Hi.", "context_id": "spoken"}))
        # Refused on arrival (likely ahead of the END above), then by the phonemizer, in its turn.
        await ws.send(json.dumps({"text": "Hi.", "config": {"voice": "xx_nobody"}, "context_id": "bad-voice"}))
        await ws.send(json.dumps({"text": "!!!", "context_id": "nothing-to-say"}))
        await ws.send("{not json")  # about no one request
        finals = [(await receive_until_text(ws)).final for _ in range(4)]
    errors = [final for final in finals if final != "END"]
    assert len(errors) == 3, finals
    assert {error.get("context_id"): error["code"] for error in errors} == {
        "bad-voice": "unknown_voice", "nothing-to-say": "unspeakable_input", None: "invalid_json",
    }, errors
    assert "context_id" not in next(error for error in errors if error["code"] == "invalid_json")


async def test_a_ws_frame_over_the_limit_is_explained_then_closed_1009(tts_ws):
    async with connect(tts_ws) as ws:
        await ws.send("[" * 100_000)
        error = (await receive_until_text(ws)).final
        assert error["type"] == "error" and error["code"] == "frame_too_large", error
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009, closed.value
