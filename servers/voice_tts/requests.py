"""Request validation shared by the HTTP and WebSocket endpoints: one place names the bad field."""

from __future__ import annotations

from dataclasses import dataclass

from voice_tts.engine import MAX_SPEED, MIN_SPEED

MODELS = ("kokoro", "tts-1", "tts-1-hd")
FORMATS = ("pcm", "wav")


@dataclass
class RequestError(Exception):
    """A 4xx: a stable code, a human message and the offending field."""

    code: str
    message: str
    param: str

    def body(self) -> dict:
        return {"error": {"code": self.code, "message": self.message, "param": self.param}}


def check_speech(
    text: object, voice: object, speed: object, voices: list[str], max_chars: int, model: object = "kokoro", response_format: object = "pcm"
) -> tuple[str, str, float]:
    """Validate a synthesis request; returns (text, voice, speed) or raises RequestError."""
    if model not in MODELS:
        raise RequestError("unknown_model", f"model must be one of {MODELS}", "model")
    if response_format not in FORMATS:
        raise RequestError("unsupported_response_format", f"response_format must be one of {FORMATS}", "response_format")
    if not isinstance(text, str) or not text.strip():
        raise RequestError("empty_input", "input text is empty", "input")
    if len(text) > max_chars:
        raise RequestError("input_too_long", f"input is {len(text)} characters; the limit is {max_chars}", "input")
    if voice not in voices:
        raise RequestError("unknown_voice", f"unknown voice {voice!r}; GET /v1/audio/voices lists them", "voice")
    if isinstance(speed, bool) or not isinstance(speed, (int, float)) or not MIN_SPEED <= speed <= MAX_SPEED:
        raise RequestError("invalid_speed", f"speed must be a number from {MIN_SPEED} to {MAX_SPEED}", "speed")
    return text, str(voice), float(speed)
