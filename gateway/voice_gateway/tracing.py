"""OpenTelemetry: Pipecat's conversation -> turn -> stt/llm/tts spans, exported over OTLP/HTTP
when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (the standard variable, so the chart passes it as is),
and the W3C trace context of those spans sent with each request to a model server.

Where each request's ``traceparent`` points (voice_common.tracing puts it on the wire):

* LLM: the HTTP header of the chat completion, from inside Pipecat's ``llm`` span (the current
  span while the request is built), so the LLM server's spans, if it makes any, go under it.
* TTS: a field of each synthesis message, the ``tts`` span of the audio context it belongs to, so
  the TTS server's ``tts.synthesize`` spans go under the reply's ``tts`` span.
* STT: a field of ``flush``, the turn's span: Pipecat opens the ``stt`` span only when the final
  transcript arrives, after the flush, so the server's ``stt.decode`` is the turn's child, beside it.
"""

from __future__ import annotations

from opentelemetry import trace

from voice_common import tracing


def configure_tracing(service_name: str = "voice-gateway") -> bool:
    """Install the OTLP exporter if an endpoint is configured; returns whether spans are exported."""
    return tracing.configure(service_name)


def turn_traceparent(service: object) -> dict[str, str]:
    """``{"traceparent": ...}`` of the caller's turn a Pipecat service is working for, else ``{}``."""
    if not tracing.enabled():
        return {}
    context = getattr(service, "_tracing_context", None)  # Pipecat's per-pipeline TracingContext
    turn = context.get_turn_context() if context is not None else None
    return tracing.traceparent(turn) if turn is not None else {}


def tts_traceparent(service: object, context_id: str) -> dict[str, str]:
    """``{"traceparent": ...}`` of the ``tts`` span Pipecat keeps for this audio context (the turn's if none)."""
    if not tracing.enabled():
        return {}
    entry = getattr(service, "_tts_spans", {}).get(context_id)  # pipecat's traced_tts bookkeeping
    if entry is None:
        return turn_traceparent(service)
    return tracing.traceparent(trace.set_span_in_context(entry["span"]))


def turn_trace_ids(turn_trace_observer: object) -> dict[str, str]:
    """The current turn's trace and span ids (hex), for an exemplar; ``{}`` when the turn is not traced."""
    if not tracing.enabled() or turn_trace_observer is None:
        return {}
    span_context = turn_trace_observer.get_current_turn_context()
    if span_context is None or not span_context.is_valid:
        return {}
    return {"trace_id": trace.format_trace_id(span_context.trace_id), "span_id": trace.format_span_id(span_context.span_id)}
