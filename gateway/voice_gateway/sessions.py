"""Admission and draining of caller sessions.

Sessions are counted so that a full gateway refuses new callers clearly (instead of
degrading everyone's latency) and so that a rolling update can wait for live calls to end.
"""

from __future__ import annotations

import asyncio

from voice_gateway import metrics


class SessionRegistry:
    """Counts live sessions; refuses new ones when full or draining."""

    def __init__(self, max_sessions: int) -> None:
        self.max_sessions = max_sessions
        self.active = 0
        self.draining = False
        self._idle = asyncio.Event()
        self._idle.set()

    def refusal(self) -> tuple[str, str] | None:
        """(code, message) if a new session must be refused now, else None."""
        if self.draining:
            return "server_draining", "this gateway is shutting down; reconnect to another replica"
        if self.active >= self.max_sessions:
            return "too_many_sessions", f"the gateway is at its limit of {self.max_sessions} sessions"
        return None

    def opened(self) -> None:
        self.active += 1
        self._idle.clear()
        metrics.SESSIONS.inc()
        metrics.ACTIVE_SESSIONS.set(self.active)

    def closed(self) -> None:
        self.active -= 1
        metrics.ACTIVE_SESSIONS.set(self.active)
        if self.active == 0:
            self._idle.set()

    async def drain(self, timeout_s: float) -> int:
        """Stop admitting sessions and wait up to ``timeout_s`` for live ones to end; returns those left."""
        self.draining = True
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        except TimeoutError:
            pass
        return self.active
