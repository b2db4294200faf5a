"""The request bodies of both endpoints as pydantic models: one place validates and names the bad field.

``POST /v1/audio/speech`` takes :class:`SpeechRequest` (OpenAI's fields), ``WS /ws`` takes
:class:`SpeakRequest` (the protocol's ``text`` and ``config``). Both check the text, voice and
speed alike, against the loaded voices and the server's limits (the validation context,
:class:`SpeechLimits`). Each check fails with a stable error code as its error type, so
:func:`validated` turns the first failure, in field order, into an ApiError naming the field
(``input``, ``config.voice``): the codes clients rely on, not pydantic's generic ones.

The body itself is read and parsed by :func:`read_json_body` rather than by FastAPI, which would
buffer a body of any size and answer hostile JSON with its own codes.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, Field, ValidationError, ValidationInfo, model_validator
from pydantic_core import PydanticCustomError
from starlette.requests import Request

from voice_common.protocol.errors import ApiError
from voice_common.protocol.parsing import MessageError, parse_json_object

MODELS = ("kokoro", "tts-1", "tts-1-hd")
FORMATS = ("pcm", "wav")
MIN_SPEED, MAX_SPEED = 0.5, 2.0  # the range Kokoro's duration model accepts
# Characters espeak-ng cannot be given: control characters (a NUL ends its C string there; the rest
# it reads as nothing), lone surrogates (they do not encode to UTF-8), private-use and unassigned.
_UNPRONOUNCEABLE = frozenset({"Cc", "Cs", "Co", "Cn"})
UNSPEAKABLE = "input has nothing to speak (no letters, digits or words)"

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class SpeechLimits:
    """What a request is checked against: the loaded voices and the server's settings."""

    voices: list[str]
    default_voice: str
    max_chars: int


def unspeakable_input() -> ApiError:
    """Text with characters but nothing a voice can say (controls only, punctuation only, ...)."""
    return ApiError("unspeakable_input", UNSPEAKABLE, "input")


def _text(value: object, info: ValidationInfo) -> str:
    """The text ready for the phonemizer: what espeak-ng cannot take replaced by spaces."""
    max_chars = info.context.max_chars
    if not isinstance(value, str) or not value.strip():
        raise PydanticCustomError("empty_input", "input text is empty")
    if len(value) > max_chars:
        raise PydanticCustomError("input_too_long", f"input is {len(value)} characters; the limit is {max_chars}")
    cleaned = "".join(" " if unicodedata.category(char) in _UNPRONOUNCEABLE else char for char in value)
    if not cleaned.strip():
        raise PydanticCustomError("unspeakable_input", UNSPEAKABLE)
    return cleaned


def _voice(value: object, info: ValidationInfo) -> str:
    if value not in info.context.voices:
        raise PydanticCustomError("unknown_voice", f"unknown voice {str(value)[:40]!r}; GET /v1/audio/voices lists them")
    return value


def _speed(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not MIN_SPEED <= value <= MAX_SPEED:
        raise PydanticCustomError("invalid_speed", f"speed must be a number from {MIN_SPEED} to {MAX_SPEED}")
    return float(value)


def _one_of(code: str, field: str, allowed: tuple[str, ...]) -> BeforeValidator:
    def check(value: object) -> object:
        if value not in allowed:
            raise PydanticCustomError(code, f"{field} must be one of {allowed}")
        return value

    return BeforeValidator(check)


def _boolean(value: object) -> bool:
    if not isinstance(value, bool):
        raise PydanticCustomError("invalid_stream", "stream must be true or false")
    return value


Text = Annotated[str, BeforeValidator(_text)]
Voice = Annotated[str, BeforeValidator(_voice)]
Speed = Annotated[float, BeforeValidator(_speed)]


class _VoiceDefault(BaseModel):
    """A request that names no voice gets the server's default (``TTS_DEFAULT_VOICE``)."""

    @model_validator(mode="before")
    @classmethod
    def _default_voice(cls, data: Any, info: ValidationInfo) -> Any:
        if isinstance(data, dict) and "voice" not in data:
            return {**data, "voice": info.context.default_voice}
        return data


class SpeechRequest(_VoiceDefault):
    """``POST /v1/audio/speech``'s JSON body; fields are checked in this order."""

    model: Annotated[str, _one_of("unknown_model", "model", MODELS)] = "kokoro"
    response_format: Annotated[Literal["pcm", "wav"], _one_of("unsupported_response_format", "response_format", FORMATS)] = "wav"
    input: Text = Field(None, validate_default=True)
    voice: Voice
    speed: Speed = 1.0
    stream: Annotated[bool, BeforeValidator(_boolean)] = True


class SpeakConfig(_VoiceDefault):
    """``config`` of a ``WS /ws`` request."""

    voice: Voice
    speed: Speed = 1.0


class SpeakRequest(BaseModel):
    """The text and config of a ``WS /ws`` request (its ``type``, ``context_id`` and ``traceparent`` are the session's)."""

    text: Text = Field(None, validate_default=True)
    config: SpeakConfig = Field(default_factory=dict, validate_default=True)


def validated(model: type[M], data: dict, limits: SpeechLimits) -> M:
    """``data`` as ``model``, or an ApiError with the first failure's code, naming its field."""
    try:
        return model.model_validate(data, context=limits)
    except ValidationError as exc:
        problem = exc.errors()[0]
        param = ".".join(str(part) for part in problem["loc"]) or None
        raise ApiError(problem["type"], problem["msg"], param) from None


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
