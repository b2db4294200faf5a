"""Request validation shared by the HTTP and WebSocket endpoints: one place names the bad field."""

from __future__ import annotations

import unicodedata

from starlette.requests import Request

from voice_common.protocol.errors import ApiError
from voice_common.protocol.parsing import MessageError, parse_json_object

MODELS = ("kokoro", "tts-1", "tts-1-hd")
FORMATS = ("pcm", "wav")
MIN_SPEED, MAX_SPEED = 0.5, 2.0  # the range Kokoro's duration model accepts
# Characters espeak-ng cannot be given: control characters (a NUL ends its C string there; the rest
# it reads as nothing), lone surrogates (they do not encode to UTF-8), private-use and unassigned.
_UNPRONOUNCEABLE = frozenset({"Cc", "Cs", "Co", "Cn"})


def unspeakable_input() -> ApiError:
    """Text with characters but nothing a voice can say (controls only, punctuation only, ...)."""
    return ApiError("unspeakable_input", "input has nothing to speak (no letters, digits or words)", "input")


async def read_json_body(request: Request, max_bytes: int) -> dict:
    """The request body as a JSON object, read no further than ``max_bytes``: a client cannot make
    the server buffer an unbounded body only to refuse it afterwards."""
    body = bytearray()
    async for part in request.stream():
        body += part
        if len(body) > max_bytes:
            raise ApiError("message_too_large", f"request bodies are limited to {max_bytes} bytes", "body", 413)
    try:
        return parse_json_object(bytes(body), max_bytes)
    except MessageError as exc:  # invalid_json or bad_message: the size was checked while reading
        raise ApiError(exc.code, exc.message, "body") from None


def _speakable_text(text: str) -> str:
    """``text`` with what espeak-ng cannot take replaced by spaces; unspeakable if nothing is left."""
    cleaned = "".join(" " if unicodedata.category(char) in _UNPRONOUNCEABLE else char for char in text)
    if not cleaned.strip():
        raise unspeakable_input()
    return cleaned


def check_speech(
    text: object,
    voice: object,
    speed: object,
    voices: list[str],
    max_chars: int,
    model: object = "kokoro",
    response_format: object = "pcm",
) -> tuple[str, str, float]:
    """Validate a synthesis request; returns (text ready for the phonemizer, voice, speed) or raises ApiError."""
    if model not in MODELS:
        raise ApiError("unknown_model", f"model must be one of {MODELS}", "model")
    if response_format not in FORMATS:
        raise ApiError("unsupported_response_format", f"response_format must be one of {FORMATS}", "response_format")
    if not isinstance(text, str) or not text.strip():
        raise ApiError("empty_input", "input text is empty", "input")
    if len(text) > max_chars:
        raise ApiError("input_too_long", f"input is {len(text)} characters; the limit is {max_chars}", "input")
    if voice not in voices:
        raise ApiError("unknown_voice", f"unknown voice {str(voice)[:40]!r}; GET /v1/audio/voices lists them", "voice")
    if isinstance(speed, bool) or not isinstance(speed, (int, float)) or not MIN_SPEED <= speed <= MAX_SPEED:
        raise ApiError("invalid_speed", f"speed must be a number from {MIN_SPEED} to {MAX_SPEED}", "speed")
    return _speakable_text(text), str(voice), float(speed)
