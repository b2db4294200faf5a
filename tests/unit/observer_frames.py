"""Feeding frames to a gateway observer as Pipecat's worker would, without a pipeline."""

from __future__ import annotations

from unittest.mock import Mock

from pipecat.frames.frames import Frame
from pipecat.observers.base_observer import BaseObserver, FramePushed
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor


class Events:
    """Collects what an observer sends to the caller."""

    def __init__(self) -> None:
        self.sent: list[dict] = []

    async def __call__(self, event: dict) -> None:
        self.sent.append(event)

    def of(self, kind: str) -> list[dict]:
        return [event for event in self.sent if event["type"] == kind]


async def push(
    observer: BaseObserver,
    frame: Frame,
    *,
    source: object | None = None,
    direction: FrameDirection = FrameDirection.DOWNSTREAM,
) -> None:
    """One hop of ``frame``; ``source`` a ``Mock(spec=SomeService)`` to say which service pushed it."""
    hop = FramePushed(
        source=source or Mock(spec=FrameProcessor),
        destination=Mock(spec=FrameProcessor),
        frame=frame,
        direction=direction,
        timestamp=0,
    )
    await observer.on_push_frame(hop)
