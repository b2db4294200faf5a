"""Bounds on how long a caller may hold a gateway slot without talking.

A slot is capacity other callers are refused for, so a connection that never speaks is ended
``first_speech_timeout_secs`` after it opened. Silence later in a call is bounded by Pipecat's
own idle timeout (``idle_timeout_secs``: no caller or bot speech), and the whole call by
``session_timeout_secs``. Each ends the call with an ``error`` event saying which limit it hit.
"""

from __future__ import annotations

import asyncio

from pipecat.frames.frames import VADUserStartedSpeakingFrame
from pipecat.observers.base_observer import BaseObserver, FramePushed


class FirstSpeechWatch(BaseObserver):
    """Knows whether the caller has started speaking yet (Silero VAD's first start of speech)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self._heard = asyncio.Event()

    async def on_push_frame(self, data: FramePushed) -> None:
        if isinstance(data.frame, VADUserStartedSpeakingFrame):
            self._heard.set()

    async def heard_within(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for the caller's first speech; False if it never came."""
        try:
            await asyncio.wait_for(self._heard.wait(), seconds)
        except TimeoutError:
            return False
        return True
