"""Request validation shared by the HTTP and WebSocket endpoints: one place names the bad field."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from starlette.requests import Request

from voice_common.wire import MessageError, parse_json_object

MODELS = ("kokoro", "tts-1", "tts-1-hd")
FORMATS = ("pcm", "wav")
MIN_SPEED, MAX_SPEED = 0.5, 2.0  # the range Kokoro's duration model accepts
# Characters espeak-ng cannot be given: control characters (a NUL ends its C string there; the rest
# it reads as nothing), lone surrogates (they do not encode to UTF-8), private-use and unassigned.
_UNPRONOUNCEABLE = frozenset({"Cc", "Cs", "Co", "Cn"})


@dataclass
class RequestError(Exception):
    """An error reply: a stable code, a human message, the offending field and the HTTP status."""

    code: str
    message: str
    param: str | None
    status: int = 400

    def body(self) -> dict:
        return {"error": {"code": self.code, "message": self.message, "param": self.param}}


def unspeakable_input() -> RequestError:
    """Text with characters but nothing a voice can say (controls only, punctuation only, ...)."""
    return RequestError("unspeakable_input", "input has nothing to speak (no letters, digits or words)", "input")


async def read_json_body(request: Request, max_bytes: int) -> dict:
    """The request body as a JSON object, read no further than ``max_bytes``: a client cannot make
    the server buffer an unbounded body only to refuse it afterwards."""
    body = bytearray()
    async for part in request.stream():
        body += part
        if len(body) > max_bytes:
            raise RequestError("message_too_large", f"request bodies are limited to {max_bytes} bytes", "body", 413)
    try:
        return parse_json_object(bytes(body), max_bytes)
    except MessageError as exc:  # invalid_json or bad_message: the size was checked while reading
        raise RequestError(exc.code, exc.message, "body") from None


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
    """Validate a synthesis request; returns (text ready for the phonemizer, voice, speed) or raises RequestError."""
    if model not in MODELS:
        raise RequestError("unknown_model", f"model must be one of {MODELS}", "model")
    if response_format not in FORMATS:
        raise RequestError("unsupported_response_format", f"response_format must be one of {FORMATS}", "response_format")
    if not isinstance(text, str) or not text.strip():
        raise RequestError("empty_input", "input text is empty", "input")
    if len(text) > max_chars:
        raise RequestError("input_too_long", f"input is {len(text)} characters; the limit is {max_chars}", "input")
    if voice not in voices:
        raise RequestError("unknown_voice", f"unknown voice {str(voice)[:40]!r}; GET /v1/audio/voices lists them", "voice")
    if isinstance(speed, bool) or not isinstance(speed, (int, float)) or not MIN_SPEED <= speed <= MAX_SPEED:
        raise RequestError("invalid_speed", f"speed must be a number from {MIN_SPEED} to {MAX_SPEED}", "speed")
    return _speakable_text(text), str(voice), float(speed)
