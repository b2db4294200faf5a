"""Spans of the STT server, under the gateway's turn (the ``traceparent`` of a ``flush``).

``stt.decode`` runs from the flush's arrival to the final being sent; beneath it, each wait for a
decode slot (``stt.slot_wait``: live turns wait behind other live decodes, never behind uploads)
and each model run (``stt.inference``: a short segment is one; audio past a 30 s window is one per
window; both recorded by ``voice_common.engine``). Nothing is created unless tracing is on
(voice_common.tracing) and the flush carried a trace context.
"""

from __future__ import annotations

from opentelemetry.trace import Span, SpanKind

from voice_common import tracing
from voice_common.audio import pcm_seconds


def decode_span(message: dict | None, segment: int, audio_bytes: int, sample_rate: int) -> Span | None:
    """The span of one flush's decode, a child of the context the flush carried (None if none)."""
    parent = tracing.remote_parent((message or {}).get(tracing.TRACEPARENT))
    if parent is None:
        return None
    audio_s = pcm_seconds(audio_bytes, sample_rate) if sample_rate else 0.0
    attributes = {"stt.segment": segment, "stt.audio_seconds": round(audio_s, 3)}
    return tracing.start_span("stt.decode", parent, kind=SpanKind.SERVER, attributes=attributes)
