"""Spans of the TTS server, under the gateway's (a ``WS /ws`` request's ``traceparent``) or under
FastAPI's span of an HTTP request.

``tts.synthesize`` runs from a WebSocket text's arrival to its last audio, with ``tts.session_queue``
(the wait behind the session's earlier texts) beneath it; each chunk's synthesis is a ``tts.chunk``
(phonemes, slot waits, model calls; not the sending), and beneath that each wait for a slot
(``tts.slot_wait``) and model call (``tts.inference``), recorded by ``voice_common.engine``.
Nothing is created unless tracing is on (voice_common.tracing) and the request carried a context.
"""

from __future__ import annotations

from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind

from voice_common import tracing


def synthesize_span(parent: Context | None, received_wall: float, context_id: str | None, text: str, voice: str) -> Span | None:
    """The span of one WebSocket text, from its arrival (``received_wall``, wall clock), with its queue wait recorded."""
    span = tracing.start_span(
        "tts.synthesize",
        parent,
        start=received_wall,
        kind=SpanKind.SERVER,
        attributes={"tts.context_id": context_id or "", "tts.characters": len(text), "tts.voice": voice},
    )
    tracing.record_span("tts.session_queue", tracing.child_context(span), received_wall, tracing.now())
    return span


def chunk_span(trace: Context | None, index: int, chunk: str) -> Span | None:
    """The span of one chunk's synthesis under ``trace`` (None when untraced)."""
    return tracing.start_span("tts.chunk", trace, attributes={"tts.chunk.index": index, "tts.characters": len(chunk)})
