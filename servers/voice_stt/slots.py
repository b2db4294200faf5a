"""Decode slots shared by live turns and file uploads, with live turns first.

A caller waiting for the reply to what they just said cannot wait behind a two-minute file.
So the engine's slots are handed out by class: live decodes (``/v1/listen`` flushes and partials,
legacy ``/ws`` utterances) may take any free slot, uploads at most ``upload_limit`` of them
(fewer than all, so a live decode always finds one), and when a slot frees up, a waiting live
decode gets it before any waiting upload. Each class is served first come, first served.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from enum import Enum

from voice_stt import metrics


class Priority(Enum):
    """Who is waiting for a decode; the order of the members is the order they are served in."""

    LIVE = "live"  # a caller in a conversation, waiting to be answered
    UPLOAD = "upload"  # a file sent to /v1/audio/transcriptions


class DecodeSlots:
    """``total`` slots (the engine's workers); uploads hold at most ``upload_limit`` of them at once."""

    def __init__(self, total: int, upload_limit: int) -> None:
        self.total = total
        self.upload_limit = upload_limit
        self._held = dict.fromkeys(Priority, 0)
        self._waiting: dict[Priority, deque[asyncio.Future[None]]] = {p: deque() for p in Priority}

    @property
    def free(self) -> int:
        return self.total - sum(self._held.values())

    def available(self, priority: Priority) -> bool:
        """Whether a decode of ``priority`` would start now, without waiting."""
        return not self._waiting[priority] and self._may_take(priority)

    @asynccontextmanager
    async def hold(self, priority: Priority) -> AsyncIterator[None]:
        """Hold one slot for the body; waits (after everyone of its class, and behind live decodes for uploads)."""
        if self.available(priority):
            self._take(priority)
        else:
            await self._wait(priority)
        try:
            yield
        finally:
            self._held[priority] -= 1
            self._grant_waiting()
            self._publish()

    def _may_take(self, priority: Priority) -> bool:
        if self.free == 0:
            return False
        return priority is Priority.LIVE or self._held[Priority.UPLOAD] < self.upload_limit

    def _take(self, priority: Priority) -> None:
        self._held[priority] += 1
        self._publish()

    async def _wait(self, priority: Priority) -> None:
        turn = asyncio.get_running_loop().create_future()
        self._waiting[priority].append(turn)
        self._publish()
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():  # granted just as it was cancelled: hand the slot on
                self._held[priority] -= 1
                self._grant_waiting()
            else:
                self._waiting[priority].remove(turn)
            self._publish()
            raise

    def _grant_waiting(self) -> None:
        """Hand free slots to waiters, live ones first. The slot is taken on the waiter's behalf here,
        so a newcomer cannot take it between the grant and the moment the waiter runs."""
        for priority in Priority:
            queue = self._waiting[priority]
            while queue and self._may_take(priority):
                self._held[priority] += 1
                queue.popleft().set_result(None)

    def _publish(self) -> None:
        for priority in Priority:
            metrics.DECODES_RUNNING.labels(priority=priority.value).set(self._held[priority])
            metrics.DECODES_WAITING.labels(priority=priority.value).set(len(self._waiting[priority]))
