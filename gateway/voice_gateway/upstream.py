"""Errors from the model servers, tagged with the service and a stable code for the caller."""

from __future__ import annotations

from dataclasses import dataclass

from pipecat.frames.frames import ErrorFrame


@dataclass
class UpstreamErrorFrame(ErrorFrame):
    """An STT/LLM/TTS failure; the events observer turns it into ``{"type": "error", ...}``."""

    service: str = ""
    code: str = "upstream_error"
