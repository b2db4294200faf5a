"""Admission of WebSocket sessions, the same on both model servers.

Each open session holds memory and, while it speaks or listens, model slots; a server that takes
every connection lets one client's reconnect loop starve everyone. So both servers admit at most
``limit`` sessions at once, counted in an active-sessions gauge, and refuse the rest with a reason
(``not_ready`` while the model loads, ``too_many_sessions`` when full) and close 1013, which tells
a client to retry later, perhaps on another replica. A bug that escapes a session still ends it
visibly: ``internal_error`` and close 1011, never a silent drop.
"""

from __future__ import annotations

import logging
from typing import Protocol

from fastapi import WebSocket
from prometheus_client import Gauge

from voice_common.http_errors import not_ready
from voice_common.protocol.constants import CLOSE_INTERNAL_ERROR, CLOSE_TRY_AGAIN_LATER

logger = logging.getLogger(__name__)


class Session(Protocol):
    """One accepted WebSocket connection, run to its end by ``run``."""

    endpoint: str
    websocket: WebSocket

    async def report(self, code: str, message: str, close_code: int | None = None) -> None:
        """Send the error event (counted by code); then close with ``close_code`` if given."""

    async def run(self) -> None: ...


class Readiness(Protocol):
    ready: bool


class SessionLimiter:
    """Admits at most ``limit`` sessions at once while ``engine`` is ready; ``gauge`` counts the open ones."""

    def __init__(self, limit: int, engine: Readiness, gauge: Gauge) -> None:
        self.limit = limit
        self.active = 0
        self._engine = engine
        self._gauge = gauge

    async def serve(self, session: Session) -> None:
        """Accept, refuse with a reason and 1013 when not ready or full, else run the session to its end."""
        await session.websocket.accept()
        if not self._engine.ready:
            await session.report("not_ready", not_ready().message, CLOSE_TRY_AGAIN_LATER)
            return
        if self.active >= self.limit:
            await session.report(
                "too_many_sessions", f"this server holds at most {self.limit} sessions; retry later", CLOSE_TRY_AGAIN_LATER
            )
            return
        self.active += 1
        self._gauge.set(self.active)
        try:
            await session.run()
        except Exception:  # a bug hit by one session must not leave its client waiting for a reply
            logger.exception("%s session failed", session.endpoint)
            await session.report("internal_error", "the server failed this session; reconnect", CLOSE_INTERNAL_ERROR)
        finally:
            self.active -= 1
            self._gauge.set(self.active)
