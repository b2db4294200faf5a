"""Model-worker slots handed out by class, first come first served within a class.

Both model servers run inference in a pool of worker threads and must bound how many runs hold
one at once; the STT server also serves some callers before others (a live turn cannot wait behind
a two-minute upload). So slots go to classes in the order of ``limits``: a class may hold at most
its limit at once, and when a slot frees up, a waiter of an earlier class gets it before any
waiter of a later one. A single class with the pool's size is a fair semaphore (the TTS server).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable, Hashable, Mapping
from contextlib import asynccontextmanager
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)

SlotCounts = Callable[[Mapping[K, int], Mapping[K, int]], None]  # (held, waiting) by class, after every change


class Slots(Generic[K]):
    """``total`` slots; class ``k`` holds at most ``limits[k]`` at once; earlier classes are served first."""

    def __init__(self, total: int, limits: Mapping[K, int], publish: SlotCounts[K]) -> None:
        self.total = total
        self.limits = dict(limits)
        self._publish_counts = publish
        self._held: dict[K, int] = dict.fromkeys(self.limits, 0)
        self._waiting: dict[K, deque[asyncio.Future[None]]] = {k: deque() for k in self.limits}
        self._publish()  # every class's counts exist from the start (a gauge with labels has none until set)

    @property
    def free(self) -> int:
        return self.total - sum(self._held.values())

    def available(self, kind: K) -> bool:
        """Whether a run of ``kind`` would start now, without waiting."""
        return not self._waiting[kind] and self._may_take(kind)

    @asynccontextmanager
    async def hold(self, kind: K) -> AsyncIterator[None]:
        """Hold one slot for the body; waits behind everyone of its class and every earlier class."""
        if self.available(kind):
            self._held[kind] += 1
            self._publish()
        else:
            await self._wait(kind)
        try:
            yield
        finally:
            self._held[kind] -= 1
            self._grant_waiting()
            self._publish()

    def _may_take(self, kind: K) -> bool:
        return self.free > 0 and self._held[kind] < self.limits[kind]

    async def _wait(self, kind: K) -> None:
        turn = asyncio.get_running_loop().create_future()
        self._waiting[kind].append(turn)
        self._publish()
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():  # granted just as it was cancelled: hand the slot on
                self._held[kind] -= 1
                self._grant_waiting()
            else:
                self._waiting[kind].remove(turn)
            self._publish()
            raise

    def _grant_waiting(self) -> None:
        """Hand free slots to waiters, earlier classes first. The slot is taken on the waiter's behalf
        here, so a newcomer cannot take it between the grant and the moment the waiter runs."""
        for kind, queue in self._waiting.items():
            while queue and self._may_take(kind):
                self._held[kind] += 1
                queue.popleft().set_result(None)

    def _publish(self) -> None:
        self._publish_counts(self._held, {kind: len(queue) for kind, queue in self._waiting.items()})
