"""Decode slots shared by live turns and file uploads, with live turns first.

A caller waiting for the reply to what they just said cannot wait behind a two-minute file.
So live decodes (``/v1/listen`` flushes and partials, legacy ``/ws`` utterances) may take any free
slot, uploads at most ``upload_limit`` of them (fewer than all, so a live decode always finds one),
and when a slot frees up, a waiting live decode gets it before any waiting upload
(``voice_common.slots`` does the scheduling).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum

from voice_common.slots import Slots
from voice_stt import metrics


class Priority(Enum):
    """Who is waiting for a decode; the order of the members is the order they are served in."""

    LIVE = "live"  # a caller in a conversation, waiting to be answered
    UPLOAD = "upload"  # a file sent to /v1/audio/transcriptions


def _publish(held: Mapping[Priority, int], waiting: Mapping[Priority, int]) -> None:
    for priority in Priority:
        metrics.DECODES_RUNNING.labels(priority=priority.value).set(held[priority])
        metrics.DECODES_WAITING.labels(priority=priority.value).set(waiting[priority])


class DecodeSlots(Slots[Priority]):
    """``total`` slots (the engine's workers); uploads hold at most ``upload_limit`` of them at once."""

    def __init__(self, total: int, upload_limit: int) -> None:
        super().__init__(total, {Priority.LIVE: total, Priority.UPLOAD: upload_limit}, _publish)
