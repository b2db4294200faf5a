"""Spans of the STT server, under the gateway's turn (the ``traceparent`` of a ``flush``).

``stt.decode`` runs from the flush's arrival to the final being sent; beneath it, each wait for a
decode slot (``stt.slot_wait``: live turns wait behind other live decodes, never behind uploads)
and each model run (``stt.inference``: a short segment is one; audio past a 30 s window is one per
window). Nothing is created unless tracing is on (voice_common.tracing) and the flush carried a
trace context.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import TypeVar

from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind

from voice_common import tracing
from voice_stt.slots import DecodeSlots, Priority

T = TypeVar("T")


def decode_span(message: dict | None, segment: int, audio_bytes: int, sample_rate: int) -> Span | None:
    """The span of one flush's decode, a child of the context the flush carried (None if none)."""
    parent = tracing.remote_parent((message or {}).get(tracing.TRACEPARENT))
    if parent is None:
        return None
    audio_s = audio_bytes / 2 / sample_rate if sample_rate else 0.0
    attributes = {"stt.segment": segment, "stt.audio_seconds": round(audio_s, 3)}
    return tracing.start_span("stt.decode", parent, kind=SpanKind.SERVER, attributes=attributes)


@asynccontextmanager
async def held_slot(slots: DecodeSlots, priority: Priority, trace: Context | None) -> AsyncIterator[None]:
    """``slots.hold(priority)``, with the wait for it recorded as ``stt.slot_wait`` under ``trace``."""
    waiting = tracing.now() if trace is not None else 0.0
    async with slots.hold(priority):
        if trace is not None:
            tracing.record_span("stt.slot_wait", trace, waiting, tracing.now(), **{"stt.priority": priority.value})
        yield


async def inference(trace: Context | None, work: Awaitable[T]) -> T:
    """Await one model run, as an ``stt.inference`` span under ``trace``."""
    span = tracing.start_span("stt.inference", trace)
    try:
        return await work
    finally:
        tracing.end_span(span)
