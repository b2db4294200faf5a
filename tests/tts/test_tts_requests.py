"""The request bodies alone (no model, no server): each bad field fails with its stable code and is
named in the protocol it came in (``input`` over HTTP, ``text`` / ``config.voice`` on the WebSocket),
the first bad field in request order wins, and what is left out takes the server's defaults."""

from __future__ import annotations

import pytest

from voice_common.protocol.errors import ApiError
from voice_tts.requests import SpeakRequest, SpeechLimits, SpeechRequest, validated

LIMITS = SpeechLimits(voices=["af_heart", "bf_emma"], default_voice="af_heart", max_chars=20)


def refusal(model: type, data: dict) -> tuple[str, str | None]:
    with pytest.raises(ApiError) as refused:
        validated(model, data, LIMITS)
    assert refused.value.status == 400 and refused.value.message
    return refused.value.code, refused.value.param


def test_a_speech_request_with_only_input_takes_the_defaults():
    request = validated(SpeechRequest, {"input": "Hi."}, LIMITS)
    assert (request.model, request.response_format, request.voice, request.speed, request.stream) == (
        "kokoro", "wav", "af_heart", 1.0, True
    )


def test_unpronounceable_characters_become_spaces_and_nothing_but_them_is_unspeakable():
    assert validated(SpeechRequest, {"input": "Hi\u0000 there"}, LIMITS).input == "Hi  there"
    assert refusal(SpeechRequest, {"input": "\u0000\u0001"}) == ("unspeakable_input", "input")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"input": "Hi.", "voice": None}, ("unknown_voice", "voice")),  # null is not "the default"
        ({"input": "Hi.", "speed": True}, ("invalid_speed", "speed")),  # a bool is not a number here
        ({"input": "a" * 21}, ("input_too_long", "input")),
        ({"model": "whisper-1", "input": "", "speed": 9}, ("unknown_model", "model")),  # the first field wins
        ({"input": "", "voice": "xx"}, ("empty_input", "input")),
    ],
    ids=["null-voice", "bool-speed", "too-long", "first-wins", "input-before-voice"],
)
def test_speech_request_refusals_name_the_field(body, expected):
    assert refusal(SpeechRequest, body) == expected


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ({"config": {}}, ("empty_input", "text")),
        ({"text": "Hi.", "config": {"voice": "xx"}}, ("unknown_voice", "config.voice")),
        ({"text": "Hi.", "config": {"speed": "fast"}}, ("invalid_speed", "config.speed")),
    ],
    ids=["no-text", "voice", "speed"],
)
def test_ws_request_refusals_name_the_protocols_field(message, expected):
    assert refusal(SpeakRequest, message) == expected


def test_a_ws_request_with_an_empty_config_takes_the_defaults():
    request = validated(SpeakRequest, {"text": "Hi.", "config": {}}, LIMITS)
    assert (request.text, request.config.voice, request.config.speed) == ("Hi.", "af_heart", 1.0)
