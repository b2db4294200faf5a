"""What both model servers' engines share: one model per process, run off the event loop in bounded slots.

The model loads in a worker thread after the server starts listening (``start``, run by
``voice_common.ops.background_model_lifespan``), so ``/health`` answers at once; it is warmed up
before ``ready`` turns true, so the first caller does not pay for initialisation. Every model run
holds a slot (``voice_common.slots``) while it runs in the pool's worker threads (CTranslate2 and
ONNX Runtime release the GIL), so the WebSockets and probes stay responsive and no more runs than
workers compete for the cores. Subclasses bring only the model: how to load it, what it was
loaded as, how to warm it up, and the runs themselves.
"""

from __future__ import annotations

import asyncio
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Generic, TypeVar

from opentelemetry.context import Context

from voice_common import tracing
from voice_common.slots import Slots

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


class PooledEngine(ABC, Generic[K]):
    """Loads, warms up and runs one shared model; ``ready`` is what ``/ready`` reports.

    ``span_prefix`` names the spans of slot waits (``<prefix>.slot_wait``) and model runs
    (``<prefix>.inference``) recorded under a caller's trace.
    """

    def __init__(self, slots: Slots[K], warmup: bool, logger: logging.Logger, span_prefix: str) -> None:
        self.ready = False
        self.slots = slots
        self._warmup = warmup
        self._logger = logger
        self._span_prefix = span_prefix
        self._pool = ThreadPoolExecutor(max_workers=slots.total, thread_name_prefix=f"{span_prefix}-model")

    async def start(self) -> None:
        """Load the model, warm it up, then turn ``ready``; a failure propagates (the process ends)."""
        started = time.perf_counter()
        await self.in_worker(self._load)
        self._logger.info("loaded %s in %.1f s", self._describe(), time.perf_counter() - started)
        if self._warmup:
            started = time.perf_counter()
            await self._warm_up()
            self._logger.info("warm-up done in %.1f s", time.perf_counter() - started)
        self.ready = True

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def in_worker(self, work: Callable[..., T], *args: object) -> T:
        """Run ``work(*args)`` in a worker thread, without a slot (loading, warm-up, slot holders)."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, work, *args)

    @asynccontextmanager
    async def slot(self, kind: K, trace: Context | None, **attributes: object) -> AsyncIterator[None]:
        """Hold one slot of ``kind`` for the body; the wait for it is a ``slot_wait`` span under ``trace``."""
        waiting = tracing.now() if trace is not None else 0.0
        async with self.slots.hold(kind):
            if trace is not None:
                tracing.record_span(f"{self._span_prefix}.slot_wait", trace, waiting, tracing.now(), **attributes)
            yield

    async def infer(self, trace: Context | None, work: Callable[..., T], *args: object, **attributes: object) -> T:
        """One model run in a worker thread (hold a slot around it), as an ``inference`` span under ``trace``."""
        span = tracing.start_span(f"{self._span_prefix}.inference", trace, attributes=attributes or None)
        try:
            return await self.in_worker(work, *args)
        finally:
            tracing.end_span(span)

    # -- the model's own parts ------------------------------------------------------------------
    @abstractmethod
    def _load(self) -> None:
        """Load the model (in a worker thread); raise if it cannot serve."""

    @abstractmethod
    def _describe(self) -> str:
        """What was loaded, for the log line ("<model> on <device>...")."""

    @abstractmethod
    async def _warm_up(self) -> None:
        """Run the model until each worker has paid its first-call costs."""
