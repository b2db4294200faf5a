"""How every server of the stack says no: one error event on WebSockets, one body on HTTP.

WebSockets send :class:`ErrorEvent` (``{"type": "error", "code", "message"}``), with the
offending ``param`` (TTS), ``segment`` (STT) or upstream ``service`` (gateway) where one is
known, and the TTS request's ``context_id`` when the error is about one request. HTTP endpoints
answer in OpenAI's shape (:class:`ApiErrorBody`) so OpenAI's clients surface the code: both model
servers raise :class:`ApiError` for it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from voice_common.protocol.message import WireMessage


class ErrorEvent(WireMessage):
    """A problem the server reports; where the session cannot go on, a close frame follows."""

    OPTIONAL = frozenset({"service", "segment", "param", "context_id"})

    type: Literal["error"] = "error"
    code: str = Field(description="stable, for programs: see protocols.md for each socket's codes")
    message: str = Field(description="for people; its wording may change")
    service: str | None = Field(None, description="gateway: the upstream that failed (stt, llm, tts)")
    segment: int | None = Field(None, description="STT: the segment a decode or length error is about")
    param: str | None = Field(None, description="TTS: the request field at fault (text, config.voice, config.speed)")
    context_id: str | None = Field(None, description="TTS: the failing request's context_id, echoed (null: about no one request)")


def error_event(code: str, message: str, **extra: str | int | None) -> dict:
    """The error event as a dict to send (``extra``: ``service``, ``segment``, ``param``, ``context_id``)."""
    return ErrorEvent(code=code, message=message, **extra).wire()


class ApiErrorDetail(BaseModel):
    code: str
    message: str
    param: str | None


class ApiErrorBody(BaseModel):
    """OpenAI's error shape, ``{"error": {"code", "message", "param"}}``, for HTTP replies."""

    error: ApiErrorDetail


class ApiError(Exception):
    """An HTTP error reply: a stable code, a human message, the offending field and the status."""

    def __init__(self, code: str, message: str, param: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.param, self.status = code, message, param, status

    def body(self) -> dict:
        return ApiErrorBody(error=ApiErrorDetail(code=self.code, message=self.message, param=self.param)).model_dump()
