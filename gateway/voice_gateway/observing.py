"""What the gateway's observers share: act once per frame, and name the service a frame came from.

Pipecat calls an observer at every hop a frame makes, and sends some frames twice (the speaking
frames as broadcast siblings, the VAD ones pushed both ways by the user aggregator), each with
its own id. An observer that counted or narrated every sighting would report one happening many
times, so each observer here sees a frame once: its first sighting, downstream for the twins.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Awaitable, Callable

from loguru import logger
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    Frame,
    InterruptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.observers.base_observer import BaseObserver, FramePushed
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.llm_service import LLMService
from pipecat.services.stt_service import STTService
from pipecat.services.tts_service import TTSService

SendEvent = Callable[[dict], Awaitable[None]]  # puts one JSON event on the way to the caller

# Sent as two frames with different ids, one downstream and one upstream.
_BOTH_WAYS = (
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    InterruptionFrame,
)


def service_of(processor: object) -> str:
    """``stt``, ``llm`` or ``tts`` for a model service, else ``gateway``: the caller's name for it."""
    for cls, name in ((STTService, "stt"), (LLMService, "llm"), (TTSService, "tts")):
        if isinstance(processor, cls):
            return name
    return "gateway"


class OncePerFrameObserver(BaseObserver):
    """Hands each frame of the ``OBSERVED`` types to :meth:`handle` once; audio is skipped cheaply."""

    OBSERVED: tuple[type[Frame], ...] = ()

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self._seen: set[int] = set()

    async def on_push_frame(self, data: FramePushed) -> None:
        frame = data.frame
        if not isinstance(frame, self.OBSERVED) or frame.id in self._seen:
            return
        if isinstance(frame, _BOTH_WAYS) and data.direction is FrameDirection.UPSTREAM:
            return  # the upstream twin of one already seen going downstream
        self._seen.add(frame.id)
        try:
            await self.handle(frame, data.source)
        except Exception:  # noqa: BLE001 - telemetry must never take a call down
            logger.exception(f"{type(self).__name__} failed")

    @abstractmethod
    async def handle(self, frame: Frame, source: object) -> None:
        """Act on the first sighting of ``frame``, pushed by ``source``."""
