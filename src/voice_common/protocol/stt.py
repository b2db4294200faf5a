"""``WS /v1/listen`` of the STT server: what the gateway sends and what it gets back.

Client -> server: ``start``, ``flush``, ``resume``, ``reset``, ``stop`` (and binary PCM).
Server -> client: ``ready``, ``partial``, ``final`` and the error event (:mod:`.errors`).
The legacy ``WS /ws`` answers with plain text, or :class:`LegacyError` (the seed's shape).
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from voice_common.protocol.constants import STT_SAMPLE_RATE
from voice_common.protocol.message import WireMessage


class StartMessage(WireMessage):
    """The first message of a session; unknown fields are ignored so newer clients still connect."""

    model_config = ConfigDict(extra="ignore", strict=True)
    OPTIONAL = frozenset({"sample_rate", "language", "interim_results"})

    type: Literal["start"] = "start"
    sample_rate: int = Field(STT_SAMPLE_RATE, description="rate of the PCM that follows; 8000-48000 are resampled")
    language: str | None = Field(None, description="the server's default language when absent")
    interim_results: bool = Field(False, description="send partial transcripts while audio accumulates")


class FlushMessage(WireMessage):
    """The caller stopped (the gateway's VAD says so): decode the segment now."""

    OPTIONAL = frozenset({"traceparent"})

    type: Literal["flush"] = "flush"
    traceparent: str | None = Field(None, description="W3C trace context: the decode span goes under it")


class ResumeMessage(WireMessage):
    """The caller went on after the last flush: put that segment back in front of the current one."""

    type: Literal["resume"] = "resume"


class ResetMessage(WireMessage):
    """Drop the buffered audio and the flushed segment."""

    type: Literal["reset"] = "reset"


class StopMessage(WireMessage):
    """Flush, then close (1000)."""

    type: Literal["stop"] = "stop"


class ReadyMessage(WireMessage):
    """The answer to ``start``."""

    type: Literal["ready"] = "ready"
    session_id: str = Field(description="names the session in the server's log")
    sample_rate: int = Field(description="the rate the server expects the PCM at (the one declared)")


class PartialMessage(WireMessage):
    """An interim transcript of the segment so far (with ``interim_results``)."""

    type: Literal["partial"] = "partial"
    text: str = Field(description="the transcript so far; a later final replaces it")
    segment: int = Field(description="the segment it belongs to")


class FinalMessage(WireMessage):
    """The answer to every flush: the segment's transcript, ``""`` on silence."""

    OPTIONAL = frozenset({"revises"})

    type: Literal["final"] = "final"
    text: str = Field(description="the segment's transcript; empty on silence")
    segment: int = Field(description="0, 1, ...: one per flush")
    audio_ms: int = Field(description="length of the decoded audio")
    latency_ms: int = Field(description="flush received to final sent")
    revises: int | None = Field(None, description="the flushed segment this one replaces (after a resume)")


class LegacyError(WireMessage):
    """An error on the legacy ``WS /ws``, whose replies are otherwise plain transcript text."""

    OPTIONAL = frozenset({"segment"})

    error: str = Field(description="the human message")
    code: str = Field(description="the stable error code")
    segment: int | None = None


CLIENT_MESSAGES = (StartMessage, FlushMessage, ResumeMessage, ResetMessage, StopMessage)
SERVER_MESSAGES = (ReadyMessage, PartialMessage, FinalMessage)
